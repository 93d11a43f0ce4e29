#!/usr/bin/env python3
"""Interleaved A/B/... rounds of `octet bench` commands, each side in its own process, on a shared machine.

    python3 bench/interleave.py ROUNDS 'NAME|ENV=V ...|COMMAND' 'NAME|ENV=V ...|COMMAND' ...

Runs the sides in order (A B C A B C ...), ROUNDS times, parses `throughput` and `p50` from each command's
output and prints the median and best per side plus the 1-minute load average at start and end. The
OpenMP variables (OMP_WAIT_POLICY, GOMP_SPINCOUNT, OCTET_OMP_DEFAULTS) are removed from the environment before
a side's own ENV=V settings apply, so every side states its threading. AB_JSON=FILE in the
environment keeps the raw numbers. Used for docs/benchmarks.md "Update (branch speed)"."""
import json
import os
import re
import statistics
import subprocess
import sys


def main():
    rounds = int(sys.argv[1])
    sides = [a.split('|', 2) for a in sys.argv[2:]]
    res = {s[0]: {'thr': [], 'p50': []} for s in sides}
    load = [open('/proc/loadavg').read().strip()]
    for r in range(rounds):
        for name, envs, cmd in sides:
            env = dict(os.environ)
            for k in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'OCTET_OMP_DEFAULTS'):
                env.pop(k, None)
            for kv in envs.split():
                k, v = kv.split('=', 1)
                env[k] = v
            out = subprocess.run(cmd, shell=True, env=env, capture_output=True, text=True).stdout
            thr = float(re.search(r'throughput\s+([\d.]+)', out).group(1))
            p50 = float(re.search(r'p50 ([\d.]+)', out).group(1))
            res[name]['thr'].append(thr)
            res[name]['p50'].append(p50)
            print(f'round {r} {name:16s} {thr:8.1f} img/s p50 {p50:9.3f} ms', flush=True)
    load.append(open('/proc/loadavg').read().strip())
    print('load start/end:', load)
    for name, v in res.items():
        t, p = v['thr'], v['p50']
        print(f'{name:16s} img/s median {statistics.median(t):8.1f} best {max(t):8.1f}   '
              f'p50 ms median {statistics.median(p):9.3f} best {min(p):9.3f}')
    if os.environ.get('AB_JSON'):
        json.dump({'load': load, 'sides': res}, open(os.environ['AB_JSON'], 'w'), indent=1)


if __name__ == '__main__':
    main()
