#!/usr/bin/env python3
# Module import graph of core/src (use crate::X / crate::X:: / super:: outside #[cfg(test)]) and its cycles.
import re,glob,os,sys
root=sys.argv[1] if len(sys.argv)>1 else 'core/src'
mods={os.path.basename(f)[:-3]:f for f in glob.glob(root+'/*.rs')}
g={}
for m,f in mods.items():
    src="\n".join(l for l in open(f).read().split("\n") if not l.lstrip().startswith("//"))
    cut=src.find('#[cfg(test)]\nmod tests')
    if cut>=0: src=src[:cut]
    deps=set()
    for x in re.findall(r'crate::([a-z_0-9]+)',src):
        if x in mods and x!=m: deps.add(x)
    for grp in re.findall(r'use crate::\{([^}]*)\}',src):
        for x in re.findall(r'\b([a-z_0-9]+)\b',grp):
            if x in mods and x!=m: deps.add(x)
    g[m]=deps
g.pop('lib',None)
for m in g: g[m].discard('lib')
# Tarjan SCC
index={};low={};st=[];on=set();sccs=[];i=[0]
def sc(v):
    index[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
    for w in g.get(v,()):
        if w not in index: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],index[w])
    if low[v]==index[v]:
        c=[]
        while True:
            w=st.pop();on.discard(w);c.append(w)
            if w==v:break
        sccs.append(c)
for v in g:
    if v not in index: sc(v)
cyc=[c for c in sccs if len(c)>1]
for m in sorted(g): print(m,'->',' '.join(sorted(g[m])))
print('cycles:',cyc if cyc else 'none')
