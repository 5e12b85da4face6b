#!/usr/bin/env python3
"""Generates the demo's policies: policy.txt (v1), policy-v2.txt (the reload) and policy-malformed.txt.
Deterministic: run it again and the files come out the same. Format: see README, "The policy format"."""
import random

DEPTS = ["eng", "ops", "finance", "hr", "sales", "support", "security", "data"]
FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "karl", "lena",
         "mike", "nina", "oscar", "peggy", "quinn", "rita", "sam", "tara", "ursula", "victor", "wendy", "yuri"]
LAST = ["ng", "smith", "garcia", "kim", "novak", "okafor", "rossi", "silva", "tanaka", "weber", "young", "zhou"]


def policy(version):
    rnd = random.Random(2018)  # the year of the pmalloc thread
    out = [f"# Demo access policy for pmalloc, version {version}. Format: see README.md, 'The policy format'.",
           f"policy corp {version}", "",
           "role guest", "role employee", "role auditor inherits employee"]
    for d in DEPTS:
        out += [f"role {d}-staff inherits employee", f"role {d}-senior inherits {d}-staff", f"role {d}-lead inherits {d}-senior"]
    out.append("role admin inherits " + " ".join(f"{d}-lead" for d in DEPTS) + " auditor")
    out.append("")
    users = sorted({f"{f}.{l}" for f in FIRST for l in LAST})
    for u in users:
        d = rnd.choice(DEPTS)
        level = rnd.choices(["staff", "senior", "lead"], [6, 3, 1])[0]
        roles = [f"{d}-{level}"] + (["auditor"] if rnd.random() < 0.05 else [])
        if version == 2 and u == "dave.kim":
            roles = ["security-lead"]  # the promotion that v2 ships
        out.append(f"user {u} " + " ".join(roles))
    out += ["user root admin", "user mallory guest", ""]
    out += ["allow guest read /srv/public/index.html", "allow employee read /srv/wiki", "allow employee list /srv/wiki",
            "allow auditor read /var/log/audit", "allow admin read /etc/shadow", "allow admin write /etc/shadow"]
    for d in DEPTS:
        objects = [f"/srv/{d}/doc-{i:03}" for i in range(120)] + [f"service:{d}-api-{i}" for i in range(8)] + \
                  [f"db:{d}-{i}" for i in range(6)]
        for o in objects:
            out.append(f"allow {d}-staff read {o}")
            if o.startswith("/srv/"):
                out.append(f"allow {d}-staff list {o}")
            if rnd.random() < 0.5:
                out.append(f"allow {d}-senior write {o}")
            if o.startswith("service:"):
                out += [f"allow {d}-senior restart {o}", f"allow {d}-lead deploy {o}"]
            if o.startswith("db:"):
                out += [f"allow {d}-lead approve {o}", f"allow {d}-lead delete {o}"]
    if version == 2:
        out.append("allow employee read /srv/wiki/handbook-v2")
    return out


def write(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


v1, v2 = policy(1), policy(2)
write("policy.txt", v1)
write("policy-v2.txt", v2)
broken = list(v2)
half = len(broken) // 2
broken[0] = "# A copy of policy-v2.txt with one malformed rule halfway through (an allow with no object): the load must roll back."
broken.insert(half, "allow eng-staff read")
write("policy-malformed.txt", broken)
