#!/usr/bin/env python3
# Across blocks, from a PersistentChainBench trace CSV (-Dzq.bench.traceDump; kernel,block,event,ns; event 3 + m = mark m):
# per projection, how far apart the blocks finished (mark 1), the last done to the first and last pass of the grid barrier
# (mark 11), and the last pass to the last staged row (mark 0). Usage: python3 scripts/trace-handovers.py FILE.csv
import sys, collections, statistics
ev=collections.defaultdict(list)
for line in open(sys.argv[1]):
    if line.startswith('kernel'): continue
    k,b,e,t=line.strip().split(',')
    ev[int(b)].append((int(t),int(e)))
done=collections.defaultdict(list); past=collections.defaultdict(list); staged=collections.defaultdict(list)
for b,rs in ev.items():
    rs.sort(); p=-1
    for t,e in rs:
        if e==2: break
        m=e-3
        if m==11: p+=1; past[p].append(t)
        if m==0: staged[p].append(t)
        if m==1: done[p].append(t)
for p in range(1,len(past)):
    d=sorted(done[p-1]); a=sorted(past[p]); s=sorted(staged[p])
    print('p%2d done spread %5.2f (first..median %5.2f) | last done -> first past %5.2f, -> last past %5.2f | past spread %5.2f | last past->last staged %5.2f'%(p,(d[-1]-d[0])/1e3,(d[len(d)//2]-d[0])/1e3,(a[0]-d[-1])/1e3,(a[-1]-d[-1])/1e3,(a[-1]-a[0])/1e3,(s[-1]-a[-1])/1e3))
# Inside the INT8 staging, medians a position of four (qkv, out, up, down): to mark 2 (row loaded), to 3 (its largest
# magnitude), to 0 (packed into codes, block barrier), each from the mark before, starting at 11.
st_ = collections.defaultdict(list)
for b, rs in ev.items():
    p, prev, open_ = -1, None, False
    for t, e in sorted(rs):
        if e == 2: break
        m = e - 3
        if m == 11: p += 1; prev = t; open_ = True
        elif m in (2, 3, 0) and open_:
            st_[(p % 4, m)].append(t - prev); prev = t
            if m == 0: open_ = False
for key in sorted(st_): print('staging, projection %d of 4, to mark %d: median %.2f µs' % (key[0], key[1], statistics.median(st_[key]) / 1e3))
