#!/usr/bin/python3
"""Extracts the keystore's known-answer test vectors from the NIST CAVP,
RFC and RSA Labs files shipped by Debian's python3-cryptography-vectors
package, and writes src/keystore/keystore_kat_vectors.h.

Run by hand when the vector selection changes:
    /usr/bin/python3 src/keystore/tests/gen_kat_vectors.py > src/keystore/keystore_kat_vectors.h
Only facts (published test vectors) are taken from the package.
"""
import os
import re
import sys

V = "/usr/lib/python3/dist-packages/cryptography_vectors"


def read(path):
    with open(os.path.join(V, path)) as f:
        return f.read()


def kv_blocks(text):
    """Yields (section_headers, {key: value}) for each blank-line block."""
    headers = {}
    block = {}
    for line in text.splitlines() + [""]:
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            for part in line[1:-1].split(","):
                if "=" in part:
                    k, v = part.split("=", 1)
                    headers[k.strip()] = v.strip()
                else:
                    headers["section"] = line[1:-1]
            continue
        if line.startswith("#"):
            continue
        if not line:
            if block:
                yield dict(headers), block
                block = {}
            continue
        if "=" in line:
            k, v = line.split("=", 1)
            block[k.strip()] = v.strip()
    if block:
        yield dict(headers), block


def first(text, pred):
    for h, b in kv_blocks(text):
        if pred(h, b):
            return h, b
    raise SystemExit("no vector matched")


out = {}

# AES-256-GCM: NIST CAVP gcmEncryptExtIV256, 96-bit IV, non-empty PT and AAD.
h, b = first(read("ciphers/AES/GCM/gcmEncryptExtIV256.rsp"),
             lambda h, b: h.get("IVlen") == "96" and h.get("Taglen") == "128"
             and h.get("PTlen") not in (None, "0") and h.get("AADlen") not in (None, "0")
             and "CT" in b)
out["gcm"] = dict(key=b["Key"], iv=b["IV"], pt=b["PT"], aad=b["AAD"], ct=b["CT"], tag=b["Tag"])

# ChaCha20-Poly1305: the draft-irtf-cfrg / RFC 7539 vector (OpenSSL's evpciph).
h, b = first(read("ciphers/ChaCha20Poly1305/openssl.txt"),
             lambda h, b: b.get("COUNT") == "1")
out["chacha"] = dict(key=b["Key"], iv=b["IV"], pt=b["Plaintext"], aad=b["AAD"],
                     ct=b["Ciphertext"], tag=b["Tag"])

# HMAC: RFC 4231 test case 2.
for name, f in (("hmac256", "HMAC/rfc-4231-sha256.txt"), ("hmac512", "HMAC/rfc-4231-sha512.txt")):
    h, b = first(read(f), lambda h, b: b.get("Key") == "4a656665")
    out[name] = dict(key=b["Key"], msg=b["Msg"], mac=b["MD"])

# Ed25519: RFC 8032 section 7.1 TEST 3 (line 3 of DJB's sign.input).
line = read("asymmetric/Ed25519/sign.input").splitlines()[2].split(":")
out["ed25519"] = dict(seed=line[0][:64], pub=line[1], msg=line[2], sig=line[3][:128])

# ECDSA: NIST CAVP FIPS 186-3 SigVer, first passing vector per curve.
sv = read("asymmetric/ECDSA/FIPS_186-3/SigVer.rsp")
for name, sec in (("p256", "P-256,SHA-256"), ("p384", "P-384,SHA-384")):
    chosen = None
    section = None
    block = {}
    for line in sv.splitlines() + [""]:
        line = line.strip()
        if line.startswith("["):
            section = line[1:-1]
            continue
        if not line:
            if section == sec and block.get("Result", "").startswith("P"):
                chosen = block
                break
            block = {}
            continue
        if "=" in line:
            k, v = line.split("=", 1)
            block[k.strip()] = v.strip()
    out["ecdsa_" + name] = dict(msg=chosen["Msg"], qx=chosen["Qx"], qy=chosen["Qy"],
                                r=chosen["R"], s=chosen["S"])

# RSA PKCS#1 v1.5 signature generation: NIST CAVP SigGen15 (186-2 .txt
# carries d), 2048-bit modulus, SHA-256: deterministic, so a true KAT.
text = read("asymmetric/RSA/FIPS_186-2/SigGen15_186-2.txt")
mod = None
keys = {}
for hdr, b in kv_blocks(text):
    if "mod" in hdr:
        mod = hdr["mod"]
    if mod == "2048":
        keys.update({k: v for k, v in b.items() if k in ("n", "e", "d")})
        if b.get("SHAAlg") == "SHA256":
            out["rsa_pkcs1"] = dict(n=keys["n"], e=keys["e"], d=keys["d"], msg=b["Msg"], sig=b["S"])
            break

# RSA-PSS verification: NIST CAVP SigVerPSS 186-3, 2048-bit, SHA-256, passing.
text = read("asymmetric/RSA/FIPS_186-2/SigVerPSS_186-3.rsp")
mod = None
n = None
for hdr, b in kv_blocks(text):
    if "mod" in hdr:
        mod = hdr["mod"]
    if "n" in b:
        n = b["n"]
    if mod == "2048" and b.get("SHAAlg") == "SHA256" and b.get("Result", "").startswith("P"):
        salt = b["SaltVal"]
        out["rsa_pss"] = dict(n=n, e=b["e"], msg=b["Msg"], sig=b["S"],
                              saltlen=str(0 if salt == "00" else len(salt) // 2))
        break

# RSA-OAEP (SHA-256, MGF1-SHA-256): pyca's oaep-custom vectors derived
# from the NIST set; first key, example 1.
text = read("asymmetric/RSA/oaep-custom/oaep-sha256-sha256.txt")
fields = []
cur = None
for line in text.splitlines():
    line = line.strip()
    if line.startswith("#"):
        cur = line[1:].strip().rstrip(":")
        fields.append([cur, ""])
    elif line and fields:
        fields[-1][1] += line.replace(" ", "")
vals = [(k, v) for k, v in fields if v]
# Order: Modulus, Exponent (public), Modulus, Public exponent, Exponent (d),
# Prime 1, Prime 2, Prime exponent 1, Prime exponent 2, Coefficient,
# Message, Encryption...
names = [k for k, _ in vals]
d = dict()
d["n"] = vals[0][1]
d["e"] = vals[1][1]
d["d"] = vals[4][1]
d["p"] = vals[5][1]
d["q"] = vals[6][1]
d["dp"] = vals[7][1]
d["dq"] = vals[8][1]
d["qi"] = vals[9][1]
d["msg"] = vals[10][1]
d["ct"] = vals[11][1]
assert vals[10][0] == "Message" and vals[11][0] == "Encryption", names[:12]
out["rsa_oaep"] = d

# AES key wrap with padding (SP 800-38F KWP-AE, AES-256): a 31-byte
# plaintext, so the padding path of RFC 5649 is exercised.
text = read("keywrap/kwtestvectors/KWP_AE_256.txt")
chosen = None
for hdr, b in kv_blocks(text):
    if "P" in b and len(b["P"]) == 62:  # 248 bits: needs padding
        chosen = b
        break
out["kwp"] = dict(kek=chosen["K"], pt=chosen["P"], ct=chosen["C"])

# HKDF-SHA-256: RFC 5869 test case 3 (empty salt and info, as ks_hkdf's
# salt is empty).
seg = read("KDF/rfc-5869-HKDF-SHA256.txt").split("COUNT = 3")[1].split("COUNT =")[0]
out["hkdf"] = dict(ikm=re.search(r"IKM\s*=\s*(\w+)", seg).group(1),
                   okm=re.search(r"OKM\s*=\s*(\w+)", seg).group(1))

w = sys.stdout.write
w("/* Generated by src/keystore/tests/gen_kat_vectors.py from Debian's\n")
w(" * python3-cryptography-vectors (NIST CAVP, RFC 4231, RFC 8032, RFC 7539,\n")
w(" * RFC 5869, SP 800-38F). Do not edit by hand. */\n")
w("#ifndef BW_KEYSTORE_KAT_VECTORS_H\n#define BW_KEYSTORE_KAT_VECTORS_H\n\n")
for name in sorted(out):
    for k, v in out[name].items():
        if k == "saltlen":
            w("#define KAT_%s_SALTLEN %s\n" % (name.upper(), v))
            continue
        v = v.lower()
        w("static const char kat_%s_%s[] =\n" % (name, k))
        for i in range(0, len(v), 64):
            w('\t"%s"%s\n' % (v[i:i + 64], ";" if i + 64 >= len(v) else ""))
        if not v:
            w('\t"";\n')
w("\n#endif\n")
