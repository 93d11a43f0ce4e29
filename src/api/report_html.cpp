// octet report's page (report.h): the JSON document embedded in one HTML file with inline CSS and a small inline
// script that draws SVG charts and sorts tables. No external resources: the page opens from disk, offline.
// Script errors are caught by a handler installed first, shown in the page (#octet-errors) and counted in
// body[data-octet-errors]; body[data-octet-rendered="1"] marks a page that finished drawing (the browser test
// reads both from the rendered DOM).
#include <string>

#include "api/report.h"

namespace octet::api {

namespace {

constexpr const char* kHead = R"OCTET(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>octet INT8 report</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2b45;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}
header .meta{opacity:.8;font-size:12px;word-break:break-all}
main{padding:12px 24px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:14px 0;padding:12px 16px}
h2{font-size:16px;margin:2px 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde1e7;border-radius:6px;padding:8px 12px;min-width:140px;background:#fafbfc}
.card .v{font-size:20px;font-weight:600}
.card .k{font-size:12px;color:#5a6475}
.note{color:#5a6475;font-size:12px}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{padding:3px 6px;border-bottom:1px solid #eceef2;text-align:left;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef1f5;cursor:pointer;position:sticky;top:0;user-select:none}
th.asc:after{content:" \25B2"}th.desc:after{content:" \25BC"}
tr:hover td{background:#f3f6fb}
.tw{max-height:420px;overflow:auto;border:1px solid #eceef2}
.bad{color:#b3261e;font-weight:600}.ok{color:#1b7f3b}
.flag{display:inline-block;background:#fde7e5;color:#8a1c14;border-radius:3px;padding:0 4px;margin-right:3px;font-size:11px}
.tensor{border:1px solid #e3e6eb;border-radius:5px;margin:6px 0;background:#fff}
.tensor>summary{padding:5px 8px;cursor:pointer;font-size:13px}
.tensor>summary .nm{font-weight:600}
.tensor .body{padding:4px 10px 10px;display:flex;flex-wrap:wrap;gap:14px}
.chart{flex:1 1 380px;min-width:320px}
.info{flex:0 1 300px;min-width:260px;overflow:hidden}
.info td{white-space:normal;word-break:break-word}
.chart svg{width:100%;height:auto;background:#fff}
.legend span{display:inline-block;margin-right:10px;font-size:11px}
.legend i{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:3px}
a{color:#1f5fbf;text-decoration:none}a:hover{text-decoration:underline}
#octet-errors{color:#b3261e;white-space:pre-wrap}
svg text{font:11px system-ui,"DejaVu Sans",sans-serif;fill:#3b4454}
</style></head>
<body data-octet-rendered="0" data-octet-errors="0">
<pre id="octet-errors"></pre>
<script>
(function(){var n=0;function rec(m){n++;document.body.setAttribute('data-octet-errors',String(n));
document.getElementById('octet-errors').textContent+='script error: '+m+'\n';}
window.addEventListener('error',function(e){rec(e.message+(e.lineno?' (line '+e.lineno+')':''));});
window.addEventListener('unhandledrejection',function(e){rec(String(e.reason));});
var ce=console.error;console.error=function(){rec(Array.prototype.join.call(arguments,' '));ce.apply(console,arguments);};})();
</script>
<script type="application/json" id="octet-data">)OCTET";

constexpr const char* kTail = R"OCTET(</script>
<header><h1>octet INT8 report</h1><div class="meta" id="meta"></div></header>
<main>
<section id="summary"><h2>Summary</h2><div class="cards" id="cards"></div><p class="note" id="summary-note"></p></section>
<section id="sqnr"><h2>Where INT8 loses accuracy: SQNR of every tensor, INT8 vs FP32, in execution order</h2>
<div class="legend"><span><i style="background:#2b6cb0"></i>SQNR dB (int8 tensor)</span><span><i style="background:#9aa3b1"></i>SQNR dB (tensor held in FP32)</span><span><i style="background:#d9822b"></i>cosine (right axis)</span><span><i style="background:#c53030"></i>at the cliff (largest SQNR drop from its inputs)</span></div>
<div id="sqnr-chart" class="chart"></div>
<p class="note">The error at a tensor includes everything upstream of it: where the line falls is where quantization hurts. Click a point to open that tensor below.</p></section>
<section id="cliff"><h2>At the cliff: tensors with the largest SQNR drop</h2><div id="cliff-list"></div></section>
<section id="refine"><h2>What the refinement moved (from the cache's sidecar)</h2><div id="refine-table"></div></section>
<section id="fp32"><h2>Layers kept in FP32, and why</h2><div id="fp32-table"></div><div id="ref-list"></div>
<details><summary>All layers (precision, reason, MACs)</summary><div id="layers-table"></div></details></section>
<section id="tensors"><h2>All tensors (sortable; click a name to open its histogram)</h2><div id="tensor-table"></div></section>
<section id="details"><h2>Per tensor, execution order</h2><div id="tensor-list"></div></section>
</main>
<script>
(function(){
'use strict';
var R=JSON.parse(document.getElementById('octet-data').textContent);
var SVGNS='http://www.w3.org/2000/svg';
function el(tag,attrs,parent,text){var e=document.createElement(tag);for(var k in attrs||{})e.setAttribute(k,attrs[k]);if(text!==undefined)e.textContent=text;if(parent)parent.appendChild(e);return e;}
function sv(tag,attrs,parent,text){var e=document.createElementNS(SVGNS,tag);for(var k in attrs||{})e.setAttribute(k,attrs[k]);if(text!==undefined)e.textContent=text;if(parent)parent.appendChild(e);return e;}
function fmt(v,d){if(v===null||v===undefined)return '';if(typeof v!=='number')return String(v);if(!isFinite(v))return String(v);
var a=Math.abs(v);if(a!==0&&(a<1e-3||a>=1e5))return v.toExponential(d===undefined?3:d);return v.toFixed(d===undefined?4:d);}
function pct(v,d){return v===null||v===undefined?'n/a':(100*v).toFixed(d===undefined?2:d)+'%';}
function db(v){return v===null||v===undefined?'\u221e':v.toFixed(1);}
var S=R.summary,T=R.tensors;
document.getElementById('meta').textContent='model '+R.model+' \u00b7 cache '+R.cache+' ('+R.cache_header+', '+R.algorithm+') \u00b7 '+R.images+' samples \u00b7 backend '+R.backend+' \u00b7 octet '+R.octet_version;
var cards=document.getElementById('cards');
function card(k,v,cls){var c=el('div',{'class':'card'},cards);el('div',{'class':'v'+(cls?' '+cls:'')},c,v);el('div',{'class':'k'},c,k);}
if(S.fp32_top1!==null){card('FP32 top-1 ('+S.labelled+' labelled)',pct(S.fp32_top1));card('INT8 top-1',pct(S.int8_top1),S.int8_top1<S.fp32_top1-0.003?'bad':'ok');}
if(S.agreement!==null)card('INT8 agrees with FP32 (top-1)',pct(S.agreement));
card('output SQNR, INT8 vs FP32',db(S.output_sqnr_db)+' dB');
card('float layers in INT8',pct(S.int8_layer_share,1)+' ('+S.int8_layers+' of '+(S.int8_layers+S.fp32_layers)+')');
card('Conv/MatMul/Gemm layers in INT8',S.int8_mac_layers+' of '+S.mac_layers);
card('MACs in INT8',pct(S.int8_mac_share,1)+' of '+fmt(S.macs/1e6,1)+' M');
var ref=R.refinement;
if(ref){card('refinement: output SQNR',fmt(ref.sqnr_before_db,1)+' \u2192 '+fmt(ref.sqnr_after_db,1)+' dB');card('thresholds the refinement moved',String((ref.changes||[]).filter(function(c){return c.from!==c.to;}).length));}
document.getElementById('summary-note').textContent=(R.sidecar?'':'No calibration sidecar next to the cache: refinement record and candidate list come from this data only. ')+
'Histograms and candidate thresholds are computed from these '+R.images+' samples; "chosen" is the threshold the cache gives the INT8 plan.';
var COLORS={'entropy2':'#2b6cb0','entropy':'#805ad5','mse':'#2f855a','percentile99.99':'#d69e2e','percentile99.999':'#dd6b20','minmax':'#718096'};
function ccolor(k){return COLORS[k]||'#319795';}
// Sortable table: cols [{k,label,num,fmt,link}]
function table(parent,cols,rows,initial){
  var w=el('div',{'class':'tw'},parent),t=el('table',{},w),th=el('thead',{},t),tr=el('tr',{},th),tb=el('tbody',{},t),state={k:null,dir:1};
  var heads=cols.map(function(c){var h=el('th',{'class':c.num?'n':''},tr,c.label);h.addEventListener('click',function(){sort(c);});return h;});
  function val(r,c){var v=r[c.k];return v===null||v===undefined?(c.num?-Infinity:''):v;}
  function draw(){tb.textContent='';rows.forEach(function(r){var row=el('tr',{},tb);cols.forEach(function(c){var td=el('td',{'class':c.num?'n':''},row);
    if(c.render)c.render(td,r);else td.textContent=c.fmt?c.fmt(r[c.k],r):(r[c.k]===null||r[c.k]===undefined?'':String(r[c.k]));});});}
  function sort(c){state.dir=state.k===c.k?-state.dir:(c.num?-1:1);state.k=c.k;
    rows.sort(function(a,b){var x=val(a,c),y=val(b,c);return (x<y?-1:x>y?1:0)*state.dir;});
    heads.forEach(function(h,i){h.className=(cols[i].num?'n ':'')+(cols[i].k===c.k?(state.dir>0?'asc':'desc'):'');});draw();}
  draw();if(initial)sort(cols.filter(function(c){return c.k===initial;})[0]);return t;}
// Line chart in an SVG: series [{y:[...], x0, dx, color, axis}], vlines [{x,color,label,width,dash}]
function axisTicks(lo,hi,n){var s=(hi-lo)/n,p=Math.pow(10,Math.floor(Math.log10(s||1))),m=s/p;var st=(m<1.5?1:m<3.5?2:m<7.5?5:10)*p;var a=[];for(var v=Math.ceil(lo/st)*st;v<=hi+1e-12;v+=st)a.push(v);return a;}
function histChart(parent,t){
  var W=560,H=230,L=52,Rm=22,Tp=10,B=34,svg=sv('svg',{viewBox:'0 0 '+W+' '+H,role:'img'},parent);
  var c=t.hist.counts,range=t.hist.range||0;var xmax=range;
  var cand=t.candidates||{};for(var k in cand)if(cand[k]!==null)xmax=Math.max(xmax,cand[k]);if(t.chosen)xmax=Math.max(xmax,t.chosen);
  if(!(xmax>0)){sv('text',{x:W/2,y:H/2,'text-anchor':'middle'},svg,'no histogram (tensor never observed or all zero)');return;}
  xmax*=1.03;var ymax=0;c.forEach(function(v){ymax=Math.max(ymax,Math.log10(1+v));});ymax=Math.max(1,Math.ceil(ymax));
  function X(v){return L+(W-L-Rm)*v/xmax;}function Y(v){return Tp+(H-Tp-B)*(1-v/ymax);}
  sv('rect',{x:L,y:Tp,width:W-L-Rm,height:H-Tp-B,fill:'#fbfcfd',stroke:'#d5dae1'},svg);
  for(var e=0;e<=ymax;e++){sv('line',{x1:L,x2:W-Rm,y1:Y(e),y2:Y(e),stroke:'#eceff3'},svg);sv('text',{x:L-4,y:Y(e)+4,'text-anchor':'end'},svg,e===0?'0':'1e'+e);}
  axisTicks(0,xmax,6).forEach(function(v){sv('line',{x1:X(v),x2:X(v),y1:H-B,y2:H-B+4,stroke:'#9aa3b1'},svg);sv('text',{x:X(v),y:H-B+15,'text-anchor':'middle'},svg,fmt(v,3));});
  sv('text',{x:(L+W)/2,y:H-3,'text-anchor':'middle'},svg,'|x|  (counts on a log scale)');
  if(c.length&&range>0){var w=range/c.length,d='M'+X(0)+','+Y(0);for(var i=0;i<c.length;i++){var y=Y(Math.log10(1+c[i]));d+='L'+X(i*w)+','+y+'L'+X((i+1)*w)+','+y;}d+='L'+X(range)+','+Y(0)+'Z';
    sv('path',{d:d,fill:'#a9c4e8',stroke:'#4a78b5','stroke-width':0.6},svg);}
  var names=Object.keys(cand).sort(function(a,b){return cand[a]-cand[b];});
  names.forEach(function(k){if(cand[k]===null)return;var x=X(cand[k]);var l=sv('line',{x1:x,x2:x,y1:Tp,y2:H-B,stroke:ccolor(k),'stroke-width':1.3,'stroke-dasharray':'4 3'},svg);sv('title',{},l,k+' '+fmt(cand[k]));});
  if(t.chosen!==null){var xc=X(t.chosen);sv('line',{x1:xc,x2:xc,y1:Tp,y2:H-B,stroke:'#c53030','stroke-width':2.2},svg);sv('text',{x:Math.min(xc+3,W-60),y:Tp+12,fill:'#c53030'},svg,'chosen '+fmt(t.chosen,3));}
}
function lineChart(parent,title,curve,vlines,logy){
  var W=560,H=200,L=52,Rm=22,Tp=18,B=30,svg=sv('svg',{viewBox:'0 0 '+W+' '+H,role:'img'},parent);
  sv('text',{x:L,y:12},svg,title);
  var ys=curve.y,pts=[];for(var i=0;i<ys.length;i++)if(ys[i]!==null&&(!logy||ys[i]>0))pts.push([curve.x0+i*curve.dx,logy?Math.log10(ys[i]):ys[i]]);
  if(pts.length<2){sv('text',{x:W/2,y:H/2,'text-anchor':'middle'},svg,'no curve');return;}
  var x0=pts[0][0],x1=pts[pts.length-1][0],y0=Infinity,y1=-Infinity;pts.forEach(function(p){y0=Math.min(y0,p[1]);y1=Math.max(y1,p[1]);});
  vlines.forEach(function(v){if(v.x!==null){x0=Math.min(x0,v.x);x1=Math.max(x1,v.x);}});if(y1===y0){y1+=1;y0-=1;}
  function X(v){return L+(W-L-Rm)*(v-x0)/(x1-x0||1);}function Y(v){return Tp+(H-Tp-B)*(1-(v-y0)/(y1-y0));}
  sv('rect',{x:L,y:Tp,width:W-L-Rm,height:H-Tp-B,fill:'#fbfcfd',stroke:'#d5dae1'},svg);
  axisTicks(y0,y1,4).filter(function(v){return !logy||Math.abs(v-Math.round(v))<1e-9||y1-y0<2;}).forEach(function(v){sv('line',{x1:L,x2:W-Rm,y1:Y(v),y2:Y(v),stroke:'#eceff3'},svg);sv('text',{x:L-4,y:Y(v)+4,'text-anchor':'end'},svg,logy?'1e'+(Math.round(v*10)/10):fmt(v,2));});
  axisTicks(x0,x1,6).forEach(function(v){sv('text',{x:X(v),y:H-B+15,'text-anchor':'middle'},svg,fmt(v,3));});
  sv('text',{x:(L+W)/2,y:H-2,'text-anchor':'middle'},svg,'threshold (amax)');
  sv('polyline',{points:pts.map(function(p){return X(p[0]).toFixed(1)+','+Y(p[1]).toFixed(1);}).join(' '),fill:'none',stroke:'#2b6cb0','stroke-width':1.4},svg);
  vlines.forEach(function(v){if(v.x===null)return;var l=sv('line',{x1:X(v.x),x2:X(v.x),y1:Tp,y2:H-B,stroke:v.color,'stroke-width':v.width||1.2,'stroke-dasharray':v.dash||''},svg);sv('title',{},l,v.label);});
}
function flagsHtml(parent,t){(t.flags||[]).forEach(function(f){el('span',{'class':'flag'},parent,f.replace(/_/g,' '));});}
function tensorBody(box,t){
  var body=el('div',{'class':'body'},box);
  var h=el('div',{'class':'chart'},body);histChart(h,t);
  var lg=el('div',{'class':'legend'},h);Object.keys(t.candidates||{}).forEach(function(k){var s=el('span',{},lg);el('i',{style:'background:'+ccolor(k)},s);s.appendChild(document.createTextNode(k+' '+fmt(t.candidates[k],4)));});
  var s2=el('span',{},lg);el('i',{style:'background:#c53030'},s2);s2.appendChild(document.createTextNode('chosen '+fmt(t.chosen,4)));
  var cv=el('div',{'class':'chart'},body);var vl=[{x:t.chosen,color:'#c53030',label:'chosen',width:2}];
  lineChart(cv,'KL divergence (entropy calibration) over thresholds',t.kl,vl.concat([{x:t.candidates.entropy2===undefined?null:t.candidates.entropy2,color:ccolor('entropy2'),label:'entropy2',dash:'4 3'}]),false);
  lineChart(cv,'MSE of fake-quantized histogram over thresholds (log)',t.mse,vl.concat([{x:t.candidates.mse===undefined?null:t.candidates.mse,color:ccolor('mse'),label:'mse',dash:'4 3'}]),true);
  var info=el('div',{'class':'info'},body),tb=el('table',{},info);
  function row(k,v,cls){var r=el('tr',{},tb);el('td',{},r,k);el('td',{'class':'n'+(cls?' '+cls:'')},r,v);}
  row('node',t.node+' ('+t.op+')');row('precision in the INT8 plan',t.quantized?(t.int8?'int8':'scale used, held in FP32'):'FP32 (scale unused)');
  row('chosen threshold (cache)',fmt(t.chosen,6));row(t.algorithm+' (recomputed)',fmt(t.algo_amax,6));
  if(t.refined)row('refinement',t.refined.from!==t.refined.to?fmt(t.refined.from,5)+' \u2192 '+fmt(t.refined.to,5)+' ('+t.refined.choice+')':'listed as changed, same value ('+t.refined.choice+')',t.refined.from!==t.refined.to?'bad':'');
  row('clipped at chosen',pct(t.clipped,4),t.clipped>1e-3?'bad':'');row('min / max',fmt(t.min,4)+' / '+fmt(t.max,4));row('mean',fmt(t.mean,4));
  if(t.measured){row('SQNR vs FP32',db(t.sqnr_db)+' dB');row('drop from inputs',fmt(t.drop_db,1)+' dB',t.drop_db>3?'bad':'');row('cosine',fmt(t.cosine,5));row('int8 values at \u00b1127',pct(t.saturated,3));}
  (t.warnings||[]).forEach(function(w){el('div',{'class':'note bad'},info,w);});
}
function tensorBox(parent,t,open){
  var d=el('details',{'class':'tensor',id:'t'+t.index},parent);var s=el('summary',{},d);
  s.appendChild(document.createTextNode('#'+t.index+' '));el('span',{'class':'nm'},s,t.node||t.name);
  s.appendChild(document.createTextNode(' \u00b7 '+t.op+' \u00b7 tensor '+t.name+(t.measured?' \u00b7 SQNR '+db(t.sqnr_db)+' dB (drop '+fmt(t.drop_db,1)+')':'')+' \u00b7 chosen '+fmt(t.chosen,4)+' '));flagsHtml(s,t);
  if(t.refined&&t.refined.from!==t.refined.to)el('span',{'class':'flag'},s,'refined');
  var drawn=false;function draw(){if(!drawn){drawn=true;tensorBody(d,t);}}
  d.addEventListener('toggle',function(){if(d.open)draw();});if(open){d.open=true;draw();}return d;}
// SQNR chart
(function(){var host=document.getElementById('sqnr-chart'),W=1100,H=300,L=46,Rm=46,Tp=12,B=26;var svg=sv('svg',{viewBox:'0 0 '+W+' '+H},host);
  var m=T.filter(function(t){return t.measured;});if(!m.length){sv('text',{x:W/2,y:H/2,'text-anchor':'middle'},svg,'no tensors measured');return;}
  var cap=function(v){return v===null?80:Math.min(v,80);};var ymax=10*Math.ceil(Math.max.apply(null,m.map(function(t){return cap(t.sqnr_db);}))/10),ymin=Math.min(0,10*Math.floor(Math.min.apply(null,m.map(function(t){return cap(t.sqnr_db);}))/10));
  var n=T.length;function X(i){return L+(W-L-Rm)*(n>1?i/(n-1):0.5);}function Y(v){return Tp+(H-Tp-B)*(1-(v-ymin)/(ymax-ymin||1));}var cs=m.map(function(t){return t.cosine===null?1:t.cosine;}),clo=Math.max(0,Math.floor(Math.min.apply(null,cs)*100)/100-0.01);function Yc(v){return Tp+(H-Tp-B)*(1-(v-clo)/(1-clo||1));}
  sv('rect',{x:L,y:Tp,width:W-L-Rm,height:H-Tp-B,fill:'#fbfcfd',stroke:'#d5dae1'},svg);
  axisTicks(ymin,ymax,6).forEach(function(v){sv('line',{x1:L,x2:W-Rm,y1:Y(v),y2:Y(v),stroke:'#eceff3'},svg);sv('text',{x:L-4,y:Y(v)+4,'text-anchor':'end'},svg,String(Math.round(v)));});
  [clo,(clo+1)/2,1].forEach(function(v){sv('text',{x:W-Rm+4,y:Yc(v)+4,fill:'#d9822b'},svg,fmt(v,3));});
  sv('text',{x:8,y:Tp+8},svg,'dB');sv('text',{x:(L+W)/2,y:H-4,'text-anchor':'middle'},svg,'tensor (execution order) \u2014 '+n+' tensors');
  var cliff={};R.cliff.forEach(function(i){cliff[i]=true;});
  sv('polyline',{points:m.map(function(t){return X(t.index).toFixed(1)+','+Yc(Math.max(clo,t.cosine===null?1:t.cosine)).toFixed(1);}).join(' '),fill:'none',stroke:'#d9822b','stroke-width':1,opacity:0.7},svg);
  sv('polyline',{points:m.map(function(t){return X(t.index).toFixed(1)+','+Y(cap(t.sqnr_db)).toFixed(1);}).join(' '),fill:'none',stroke:'#2b6cb0','stroke-width':1.3},svg);
  m.forEach(function(t){var c=sv('circle',{cx:X(t.index),cy:Y(cap(t.sqnr_db)),r:cliff[t.index]?4.5:2.2,fill:cliff[t.index]?'#c53030':(t.int8?'#2b6cb0':'#9aa3b1'),style:'cursor:pointer'},svg);
    sv('title',{},c,'#'+t.index+' '+(t.node||t.name)+' ('+t.op+'): SQNR '+db(t.sqnr_db)+' dB, drop '+fmt(t.drop_db,1)+' dB, cosine '+fmt(t.cosine,4));
    c.addEventListener('click',function(){var d=document.getElementById('t'+t.index);d.open=true;d.scrollIntoView();});});
  // Labels for the worst five, moved up where they would overlap one to their left.
  var placed=[];R.cliff.slice(0,5).sort(function(a,b){return a-b;}).forEach(function(i){var t=T[i],x=Math.min(X(i)+6,W-Rm-170),y=Y(cap(t.sqnr_db))-8;
    function hit(){return placed.some(function(p){return Math.abs(p[0]-x)<175&&Math.abs(p[1]-y)<12;});}
    while(hit()&&y>Tp+12)y-=13;if(hit()){y=Y(cap(t.sqnr_db))+16;while(hit())y+=13;}placed.push([x,y]);
    var nm=t.node||t.name;sv('text',{x:x,y:y,fill:'#c53030'},svg,nm.length>32?'\u2026'+nm.slice(-31):nm);});
})();
// Cliff
(function(){var p=document.getElementById('cliff-list');if(!R.cliff.length){el('p',{'class':'note'},p,'No tensor loses more than 0.5 dB against its inputs.');return;}
  R.cliff.forEach(function(i,k){tensorBox(p,T[i],k<3);});})();
// Refinement
(function(){var p=document.getElementById('refine-table');
  if(!R.refinement){el('p',{'class':'note'},p,'No refinement record: the cache holds the algorithm\'s thresholds (octet calibrate --no-refine, another tool, or no sidecar).');return;}
  var idx={};T.forEach(function(t){idx[t.name]=t;});
  var rows=(R.refinement.changes||[]).map(function(c){var t=idx[c.tensor]||{};return {tensor:c.tensor,node:t.node||'',choice:c.choice,from:c.from,to:c.to,
    ratio:c.from?c.to/c.from:null,sqnr_db:t.measured?t.sqnr_db:null,drop_db:t.measured?t.drop_db:null,index:t.index};});
  el('p',{'class':'note'},p,'Output SQNR on '+R.refinement.samples+' calibration samples: '+fmt(R.refinement.sqnr_before_db,1)+' dB before, '+fmt(R.refinement.sqnr_after_db,1)+' dB after; '+rows.length+' thresholds listed.');
  table(p,[{k:'node',label:'ONNX node',render:function(td,r){if(r.index===undefined){td.textContent=r.tensor;return;}var a=el('a',{href:'#t'+r.index},td,r.node||r.tensor);a.addEventListener('click',function(){document.getElementById('t'+r.index).open=true;});}},
    {k:'tensor',label:'tensor'},{k:'choice',label:'taken'},{k:'from',label:'from',num:true,fmt:function(v){return fmt(v,4);}},{k:'to',label:'to',num:true,fmt:function(v){return fmt(v,4);}},
    {k:'ratio',label:'to / from',num:true,fmt:function(v){return v===null?'':v.toFixed(3);}},{k:'sqnr_db',label:'SQNR dB',num:true,fmt:function(v){return v===null?'':db(v);}},
    {k:'drop_db',label:'drop dB',num:true,fmt:function(v){return fmt(v,1);}}],rows);})();
// FP32 layers
(function(){var rows=R.layers.filter(function(l){return l.precision==='fp32'&&!l.index_op;});var p=document.getElementById('fp32-table');
  if(!rows.length)el('p',{'class':'note'},p,'Every float layer runs in INT8.');
  else{el('p',{'class':'note'},p,rows.length+' float layers run in FP32 (largest MACs first; '+S.index_layers+' shape / index nodes, which compute no float values, are left out here and listed under all layers).');
    table(p,[{k:'node',label:'ONNX node'},{k:'op',label:'op'},{k:'why',label:'why FP32'},{k:'macs',label:'MACs',num:true}],rows,'macs');}
  var rl=document.getElementById('ref-list');if(R.ref_fallback.length){el('p',{'class':'note'},rl,'Nodes on the reference backend (slow path) and why:');var ul=el('ul',{},rl);R.ref_fallback.forEach(function(l){el('li',{},ul,l);});}
  table(document.getElementById('layers-table'),[{k:'node',label:'ONNX node'},{k:'op',label:'op'},{k:'precision',label:'precision'},{k:'why',label:'why'},{k:'macs',label:'MACs',num:true}],R.layers.slice());})();
// Tensor table
(function(){var rows=T.slice();
  table(document.getElementById('tensor-table'),[
    {k:'index',label:'#',num:true},
    {k:'node',label:'ONNX node',render:function(td,r){var a=el('a',{href:'#t'+r.index},td,r.node||r.name);a.addEventListener('click',function(){document.getElementById('t'+r.index).open=true;});}},
    {k:'op',label:'op'},{k:'name',label:'tensor'},
    {k:'int8',label:'int8',fmt:function(v,r){return r.quantized?(v?'int8':'scale'):'fp32';}},
    {k:'chosen',label:'chosen amax',num:true,fmt:function(v){return fmt(v,4);}},
    {k:'algo_amax',label:'algorithm amax',num:true,fmt:function(v){return fmt(v,4);}},
    {k:'clipped',label:'clipped',num:true,fmt:function(v){return pct(v,3);}},
    {k:'sqnr_db',label:'SQNR dB',num:true,fmt:function(v,r){return r.measured?db(v):'';}},
    {k:'drop_db',label:'drop dB',num:true,fmt:function(v){return fmt(v,1);}},
    {k:'cosine',label:'cosine',num:true,fmt:function(v){return fmt(v,5);}},
    {k:'saturated',label:'at \u00b1127',num:true,fmt:function(v){return v===null?'':pct(v,3);}},
    {k:'refined',label:'refined',fmt:function(v){return v?v.choice:'';}},
    {k:'flags',label:'flags',render:function(td,r){flagsHtml(td,r);}}],rows);})();
// Per-tensor list (drawn when opened)
(function(){var p=document.getElementById('tensor-list');T.forEach(function(t){tensorBox(p,t,false);});})();
document.body.setAttribute('data-octet-rendered','1');
})();
</script>
</body></html>
)OCTET";

}  // namespace

std::string report_html(const nlohmann::json& report) {
  // Inside <script type="application/json"> only "</script" or "<!--" could end or confuse the element; JSON puts
  // '<', '>' and '&' only inside strings, where their \u escapes mean the same.
  const std::string j = report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string safe;
  safe.reserve(j.size() + 64);
  for (char c : j) {
    if (c == '<') safe += "\\u003c";
    else if (c == '>') safe += "\\u003e";
    else if (c == '&') safe += "\\u0026";
    else safe += c;
  }
  return std::string(kHead) + safe + kTail;
}

}  // namespace octet::api
