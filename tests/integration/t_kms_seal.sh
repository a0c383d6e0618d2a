#!/usr/bin/env bash
# Seal and unseal through the running daemon: `bulwark operator init`
# switches the development auto-seal to Shamir shares (3, threshold 2);
# the worker crashing does NOT re-seal the keystore (the supervisor keeps
# the key process and hands its socket to the new worker); the key process
# crashing comes back sealed; one share is not enough, a wrong share is
# refused, two shares unseal and old ciphertexts decrypt; then the same
# with a passphrase (wrong one refused). Finally a key imported with known
# bytes (RSA-OAEP + AES key wrap with padding, done here with openssl) is
# found neither in the worker's memory (/proc/PID/mem) nor in any file of
# the data directory, raw, hex, base64 or base32.
. "$(dirname "$0")/lib.sh"
bw_init || exit 1
bw_config 'kms:
  unseal: shamir'
bw_launch || exit 1
U="https://localhost:$ADMIN/api/v1/kms"
A=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
json() { "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get(sys.argv[1],""))' "$1"; }
OP=("$BIN" operator --dir "$D")
sealed() { acurl "${A[@]}" "$U/sys/status" | grep -q '"sealed":true'; }
unsealed() { acurl "${A[@]}" "$U/sys/status" | grep -q '"sealed":false'; }
children() { pgrep -P "$SUP"; }
worker_pid() { for p in $(children); do grep -q '^Uid:[[:space:]]*0' "/proc/$p/status" || echo "$p"; done | head -1; }
keystore_pid() { local w; w=$(worker_pid); for p in $(children); do [ "$p" != "$w" ] && echo "$p"; done | head -1; }

"${OP[@]}" init --shares 3 --threshold 2 >"$D/shares" 2>/dev/null
check "operator init prints three shares" [ "$(grep -c '^bwsh1-' "$D/shares")" = 3 ]
check "the keystore stays unsealed through the switch" unsealed
st=$(acurl "${A[@]}" "$U/sys/status")
check "status names the Shamir seal" grep -q '"seal_type":"shamir"' <<<"$st"
acurl "${A[@]}" -o /dev/null -d '{"name":"vault","type":"aes256-gcm"}' "$U/tenants/platform/keys"
SECRET="sealed-secret-$RANDOM$RANDOM"
CT=$(acurl "${A[@]}" -d "{\"plaintext\":\"$(printf %s "$SECRET" | base64)\"}" \
  "$U/tenants/platform/keys/vault/encrypt" | json ciphertext)
check "encrypted before the crashes" grep -q '^bwk1:' <<<"$CT"
decrypts() { [ "$(acurl "${A[@]}" -d "{\"ciphertext\":\"$CT\"}" "$U/tenants/platform/keys/vault/decrypt" | json plaintext | base64 -d)" = "$SECRET" ]; }

# The worker dies: the keystore (and its unsealed master key) survives.
KS=$(keystore_pid); W0=$(worker_pid)
kill -9 "$W0"
check "the worker is restarted" wait_until 100 bash -c "w=\$(for p in \$(pgrep -P $SUP); do grep -q '^Uid:[[:space:]]*0' /proc/\$p/status || echo \$p; done | head -1); [ -n \"\$w\" ] && [ \"\$w\" != $W0 ]"
check "the new worker serves" wait_until 100 unsealed
check "the same key process is still running" [ "$(keystore_pid)" = "$KS" ]
check "still unsealed after the worker crash: no operator needed" decrypts

# The key process dies: it comes back sealed (Shamir).
kill -9 "$KS"
check "key process restarted, sealed" wait_until 100 sealed
check "key operations answer 503 while sealed" \
  [ "$(status_of "${A[@]}" -d "{\"ciphertext\":\"$CT\"}" "$U/tenants/platform/keys/vault/decrypt")" = 503 ]
S1=$(sed -n 1p "$D/shares"); S2=$(sed -n 2p "$D/shares"); S3=$(sed -n 3p "$D/shares")
BAD="${S2%?????}AAAAA"
check "a mistyped share is refused" \
  [ "$(status_of "${A[@]}" -d "{\"share\":\"$BAD\"}" "$U/sys/unseal")" = 400 ]
printf '%s\n' "$S1" | "${OP[@]}" unseal >/dev/null 2>&1
check "one share of two is not enough" sealed
check "still 503 with a share missing" \
  [ "$(status_of "${A[@]}" -d "{\"ciphertext\":\"$CT\"}" "$U/tenants/platform/keys/vault/decrypt")" = 503 ]
printf '%s\n' "$S3" | "${OP[@]}" unseal >/dev/null 2>&1
check "two shares unseal" unsealed
check "the old ciphertext decrypts after unseal" decrypts

# Passphrase: switch, crash the key process, wrong then right passphrase.
PASS="correct horse battery staple $RANDOM"
printf '%s\n' "$PASS" | "${OP[@]}" init --passphrase >/dev/null 2>&1
st=$(acurl "${A[@]}" "$U/sys/status")
check "switched to a passphrase" grep -q '"seal_type":"passphrase"' <<<"$st"
kill -9 "$(keystore_pid)"
check "key process restarted, sealed (passphrase)" wait_until 100 sealed
check "a wrong passphrase is refused" \
  bash -c "! printf 'not the passphrase at all\n' | $BIN operator --dir '$D' unseal >/dev/null 2>&1"
check "still sealed after the wrong passphrase" sealed
printf '%s\n' "$PASS" | "${OP[@]}" unseal >/dev/null 2>&1
check "the passphrase unseals" unsealed
check "the old ciphertext decrypts after the passphrase unseal" decrypts
check "the passphrase is in no log" bash -c "! grep -qF '$PASS' '$D.log' '$D/audit.log'"

# Import a key with known bytes, wrapped as the issue asks; then look
# for those bytes everywhere the worker could leak them.
W="$D/imp"; mkdir -p "$W"
acurl "${A[@]}" "$U/tenants/platform/import-params" | json wrapping_key >"$W/wk.pem"
head -c 32 /dev/urandom >"$W/key"
head -c 32 /dev/urandom >"$W/eph"
hex() { od -An -tx1 -v "$1" | tr -d ' \n'; }
openssl pkeyutl -encrypt -pubin -inkey "$W/wk.pem" -pkeyopt rsa_padding_mode:oaep \
  -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$W/eph" -out "$W/w1"
openssl enc -id-aes256-wrap-pad -K "$(hex "$W/eph")" -iv A65959A6 -in "$W/key" -out "$W/w2"
WRAPPED=$(cat "$W/w1" "$W/w2" | base64 -w0)
r=$(acurl "${A[@]}" -d "{\"type\":\"aes256-gcm\",\"wrapped\":\"$WRAPPED\"}" "$U/tenants/platform/keys/imported/import")
check "a wrapped key with known bytes is imported" grep -q '"imported"' <<<"$r"
CT2=$(acurl "${A[@]}" -d "{\"plaintext\":\"$(printf 'probe' | base64)\"}" "$U/tenants/platform/keys/imported/encrypt" | json ciphertext)
check "the imported key encrypts" grep -q '^bwk1:' <<<"$CT2"
# The same bytes must decrypt what we encrypt with them here: proof that
# the key in the keystore is the key we know (so the scan looks for the
# right bytes).
KEYHEX=$(hex "$W/key")
check "the keystore holds exactly the imported bytes" "$PY" - "$CT2" "$KEYHEX" <<'PYEOF'
import base64, sys
from hashlib import sha256
ct, key = sys.argv[1], bytes.fromhex(sys.argv[2])
raw = base64.urlsafe_b64decode(ct[5:] + "=" * (-len(ct[5:]) % 4))
hdr, nonce, body = raw[:22], raw[22:34], raw[34:]
try:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:
    print("python3-cryptography missing"); sys.exit(1)
sys.exit(0 if AESGCM(key).decrypt(nonce, body, hdr) == b"probe" else 1)
PYEOF
rm -f "$W/key" "$W/eph" "$W/w1" "$W/w2"
WPID=$(worker_pid)
# Control: the SHA-256 of the bootstrap token is in the worker's memory for
# good (the API checks tokens against it): the scan must find it, or it
# proves nothing.
CONTROL=$(printf '%s' "$TOKEN" | sha256sum | cut -c1-64)
check "the imported key's bytes are not in the worker's memory (/proc/PID/mem)" "$PY" - "$WPID" "$KEYHEX" "$CONTROL" <<'PYEOF'
import sys, re, base64, struct
pid, key, control = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
seen_control = False
needles = [key, key.hex().encode(), key.hex().upper().encode(),
           base64.b64encode(key).rstrip(b"="), base64.urlsafe_b64encode(key).rstrip(b"="),
           base64.b32encode(key).rstrip(b"=")]
found, scanned, CHUNK, OVER, PAGE = [], 0, 64 << 20, 256, 4096
def regions():
    """(start, end) of readable mappings holding resident pages (smaps).
    Huge ones (sanitizer shadow: terabytes reserved, a few MiB touched)
    are narrowed to their present pages through /proc/PID/pagemap."""
    cur, out = None, []
    for line in open(f"/proc/{pid}/smaps"):
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        if m:
            cur = [int(m[1], 16), int(m[2], 16), m[3], line]
        elif line.startswith("Rss:") and cur and cur[2][0] == "r" \
                and int(line.split()[1]) > 0 and "[vvar]" not in cur[3] \
                and "[vsyscall]" not in cur[3]:
            out.append((cur[0], cur[1]))
    with open(f"/proc/{pid}/pagemap", "rb", 0) as pm:
        for lo, hi in out:
            if hi - lo <= (1 << 30):
                yield lo, hi
                continue
            # Terabyte mappings are the sanitizer's high shadow: poison
            # bytes about memory, never its contents.
            if hi - lo > (64 << 30):
                continue
            run = None
            for base in range(lo, hi, PAGE << 20):
                n = min(1 << 20, (hi - base) // PAGE)
                pm.seek(base // PAGE * 8)
                ents = pm.read(n * 8)
                for i, (e,) in enumerate(struct.iter_unpack("<Q", ents)):
                    a = base + i * PAGE
                    if not e >> 63:
                        continue
                    if run and run[1] == a:
                        run[1] = a + PAGE
                    else:
                        if run:
                            yield tuple(run)
                        run = [a, a + PAGE]
                if len(ents) < n * 8:
                    break
            if run:
                yield tuple(run)
with open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for lo, hi in regions():
        off, prev = lo, b""
        while off < hi:
            try:
                mem.seek(off); data = mem.read(min(CHUNK, hi - off))
            except OSError:
                break
            if not data:
                break
            scanned += len(data)
            window = prev + data
            found += [n for n in needles if n in window]
            seen_control = seen_control or control in window
            prev, off = data[-OVER:], off + len(data)
print("scanned %d MiB of the worker; control %s" % (scanned >> 20, "found" if seen_control else "MISSING"))
sys.exit(1 if found or not seen_control else 0)
PYEOF
check "the imported key's bytes are in no file under the data directory" "$PY" - "$D" "$KEYHEX" <<'PYEOF'
import sys, os, base64
root, key = sys.argv[1], bytes.fromhex(sys.argv[2])
needles = [key, key.hex().encode(), key.hex().upper().encode(),
           base64.b64encode(key).rstrip(b"="), base64.urlsafe_b64encode(key).rstrip(b"="),
           base64.b32encode(key).rstrip(b"=")]
bad = []
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        try:
            data = open(p, "rb").read()
        except OSError:
            continue
        if any(n in data for n in needles):
            bad.append(p)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PYEOF
check "clean stop" bw_stop
finish
