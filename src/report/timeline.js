// zksim report timeline: server lanes above client lanes, faults as labelled bands, every op
// of the run on a canvas; wheel zooms, drag pans, hover shows the op or the server event.
// Data: the JSON in <script id="zksim-data">. Rendered state goes to <body data-*> so a
// headless browser test can tell the page drew its lanes.
(function () {
  "use strict";
  var body = document.body;
  window.addEventListener("error", function (e) {
    body.dataset.scriptErrors = (body.dataset.scriptErrors || "") + (e.message || "error") + "; ";
  });
  // `#only-timeline`: the title, the timeline and the plots alone (for screenshots).
  if (location.hash === "#only-timeline") body.classList.add("only-timeline");
  var D = JSON.parse(document.getElementById("zksim-data").textContent);
  var canvas = document.getElementById("timeline");
  var tip = document.getElementById("tip");
  var ctx = canvas.getContext("2d");
  var LABEL = 64, AXIS = 22, FAULT_ROW = 30, SERVER_LANE = 24, CLIENT_LANE = 13, GAP = 10;
  var STATE_COLOURS = {looking: "#f2c14e", leading: "#2e8b57", following: "#6fa8dc", observing: "#b4a7d6", down: "#444", paused: "#9b59b6"};
  var OUTCOME_COLOURS = ["#7fb3d5", "#bbb", "#f4d03f"];
  var WRITE_COLOUR = "#82c785";
  var nServers = D.servers.length, nClients = D.clients.length;
  var clientTop = AXIS + FAULT_ROW + nServers * SERVER_LANE + GAP;
  var height = clientTop + nClients * CLIENT_LANE + 10;
  var view = {t0: D.t0, t1: D.t1};
  var focus = null;  // {op: id} or {lin: index}
  // Ops per client lane, for hover.
  var byLane = [];
  for (var c = 0; c < nClients; c++) byLane.push([]);
  D.ops.forEach(function (o, id) { if (o) byLane[o[0]].push(id); });

  function width() { return Math.max(600, canvas.parentElement.clientWidth - 4); }
  function size() {
    var ratio = window.devicePixelRatio || 1, w = width();
    canvas.width = w * ratio; canvas.height = height * ratio;
    canvas.style.width = w + "px"; canvas.style.height = height + "px";
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  }
  function x(t) { return LABEL + (t - view.t0) / (view.t1 - view.t0) * (width() - LABEL - 4); }
  function t(xp) { return view.t0 + (xp - LABEL) / (width() - LABEL - 4) * (view.t1 - view.t0); }
  function opEnd(o) { return o[2] < 0 ? Math.min(o[1] + Math.min(1000, (D.t1 - D.t0) * 0.05), D.t1) : o[2]; }
  function isWrite(kind) { return D.writes.indexOf(kind) >= 0; }

  function drawAxis(w) {
    ctx.fillStyle = "#333"; ctx.font = "10px sans-serif"; ctx.textBaseline = "top";
    var span = view.t1 - view.t0, steps = [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
      1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000];
    var step = steps[steps.length - 1];
    for (var i = 0; i < steps.length; i++) { if (span / steps[i] <= (w - LABEL) / 90) { step = steps[i]; break; } }
    ctx.strokeStyle = "#e4e4e4"; ctx.lineWidth = 1;
    for (var s = Math.ceil(view.t0 / step) * step; s <= view.t1; s += step) {
      var px = x(s);
      ctx.beginPath(); ctx.moveTo(px, AXIS); ctx.lineTo(px, height); ctx.stroke();
      ctx.fillText(step >= 1 ? (s / 1000).toFixed(step < 1000 ? 3 : 1) + " s" : (s * 1e6).toFixed(0) + " ns", px + 2, 4);
    }
  }

  function drawFaults() {
    ctx.font = "10px sans-serif"; ctx.textBaseline = "top";
    var row = 0;
    D.faults.forEach(function (f) {
      var end = f[1] < 0 ? view.t1 : f[1];
      if (end < view.t0 || f[0] > view.t1) return;
      var a = Math.max(x(f[0]), LABEL), b = Math.max(Math.min(x(end), width()), a + 2);
      ctx.fillStyle = "rgba(220,40,40,0.10)"; ctx.fillRect(a, AXIS, b - a, height - AXIS);
      ctx.fillStyle = "rgba(220,40,40,0.55)"; ctx.fillRect(a, AXIS + row * 10, b - a, 2);
      ctx.fillStyle = "#a01010"; ctx.fillText(f[2], a + 2, AXIS + 1 + row * 10);
      row = (row + 1) % 3;
    });
  }

  function drawServers() {
    ctx.font = "11px sans-serif"; ctx.textBaseline = "middle";
    D.servers.forEach(function (name, i) {
      var y = AXIS + FAULT_ROW + i * SERVER_LANE;
      ctx.fillStyle = "#222"; ctx.fillText(name, 4, y + SERVER_LANE / 2);
    });
    D.segs.forEach(function (s) {
      var end = s[2];
      if (end < view.t0 || s[1] > view.t1) return;
      var y = AXIS + FAULT_ROW + s[0] * SERVER_LANE + 4;
      var a = Math.max(x(s[1]), LABEL), b = Math.min(x(end), width());
      ctx.fillStyle = STATE_COLOURS[D.states[s[3]]] || "#ccc";
      ctx.fillRect(a, y, Math.max(b - a, 1), SERVER_LANE - 10);
      if (b - a > 60) {
        ctx.fillStyle = s[3] === D.states.indexOf("down") ? "#fff" : "#111";
        ctx.fillText(D.states[s[3]] + (s[4] >= 0 ? " e" + s[4] : ""), a + 3, y + (SERVER_LANE - 10) / 2);
      }
    });
    D.marks.forEach(function (m) {
      if (m[1] < view.t0 || m[1] > view.t1) return;
      var y = AXIS + FAULT_ROW + m[0] * SERVER_LANE;
      var px = x(m[1]);
      ctx.fillStyle = D.markColours[m[3]] || "#000";
      ctx.beginPath(); ctx.moveTo(px, y + 1); ctx.lineTo(px - 3, y + 5); ctx.lineTo(px + 3, y + 5); ctx.fill();
      ctx.fillRect(px - 0.5, y + 4, 1, SERVER_LANE - 6);
    });
  }

  function drawClients() {
    ctx.font = "10px sans-serif"; ctx.textBaseline = "middle";
    D.clients.forEach(function (c, i) {
      ctx.fillStyle = "#222"; ctx.fillText("c" + c, 4, clientTop + i * CLIENT_LANE + CLIENT_LANE / 2);
    });
    var drawn = 0, pxPerMs = (width() - LABEL - 4) / (view.t1 - view.t0);
    D.ops.forEach(function (o) {
      if (!o) return;
      var end = opEnd(o);
      if (end < view.t0 || o[1] > view.t1) return;
      var a = Math.max(x(o[1]), LABEL), b = Math.min(x(end), width());
      var y = clientTop + o[0] * CLIENT_LANE + 2;
      var colour = o[4] === 0 && isWrite(o[3]) ? WRITE_COLOUR : OUTCOME_COLOURS[o[4]];
      if (o[12] === 1) colour = "#e33";
      else if (o[12] === 2) colour = "#f39c12";
      ctx.fillStyle = colour;
      ctx.fillRect(a, y, Math.max(b - a, pxPerMs > 2 ? 2 : 1), CLIENT_LANE - 4);
      drawn++;
    });
    body.dataset.opsDrawn = drawn;
  }

  function drawFocus() {
    if (!focus) return;
    ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
    if (focus.op !== undefined) {
      var o = D.ops[focus.op];
      var y = clientTop + o[0] * CLIENT_LANE + 1;
      ctx.strokeRect(x(o[1]) - 2, y - 1, Math.max(x(opEnd(o)) - x(o[1]), 2) + 4, CLIENT_LANE - 1);
    }
    if (focus.lin !== undefined) {
      var lin = D.lin[focus.lin], p = -Infinity, pts = [];
      lin.prefix.forEach(function (id) {
        var o = D.ops[id];
        p = Math.min(Math.max(p, o[1]), o[2] < 0 ? Infinity : o[2]);
        pts.push([x(p), clientTop + o[0] * CLIENT_LANE + CLIENT_LANE / 2]);
      });
      ctx.strokeStyle = "rgba(0,100,0,0.8)"; ctx.beginPath();
      pts.forEach(function (q, i) { if (i === 0) ctx.moveTo(q[0], q[1]); else ctx.lineTo(q[0], q[1]); });
      ctx.stroke();
      ctx.font = "9px sans-serif"; ctx.textBaseline = "middle";
      pts.forEach(function (q, i) {
        ctx.fillStyle = "#0a5"; ctx.beginPath(); ctx.arc(q[0], q[1], 6, 0, 7); ctx.fill();
        ctx.fillStyle = "#fff"; ctx.fillText(String(i + 1), q[0] - 3, q[1]);
      });
      var s = D.ops[lin.stuck];
      ctx.strokeStyle = "#c00"; ctx.lineWidth = 3;
      ctx.strokeRect(x(s[1]) - 3, clientTop + s[0] * CLIENT_LANE - 1, Math.max(x(opEnd(s)) - x(s[1]), 2) + 6, CLIENT_LANE + 1);
    }
  }

  function draw() {
    size();
    var w = width();
    ctx.clearRect(0, 0, w, height);
    drawAxis(w);
    drawFaults();
    drawServers();
    ctx.fillStyle = "#ddd"; ctx.fillRect(0, clientTop - GAP / 2, w, 1);
    drawClients();
    drawFocus();
    document.getElementById("view").textContent =
      (view.t0 / 1000).toFixed(3) + " s – " + (view.t1 / 1000).toFixed(3) + " s";
    body.dataset.rendered = "1";
    body.dataset.serverLanes = nServers;
    body.dataset.clientLanes = nClients;
  }

  function zoom(factor, at) {
    var span = (view.t1 - view.t0) * factor;
    span = Math.min(Math.max(span, 1e-5), (D.t1 - D.t0));
    var centre = at === undefined ? (view.t0 + view.t1) / 2 : at;
    var frac = (centre - view.t0) / (view.t1 - view.t0);
    view.t0 = centre - frac * span; view.t1 = view.t0 + span;
    clamp(); draw();
  }
  function clamp() {
    var span = view.t1 - view.t0;
    if (view.t0 < D.t0) { view.t0 = D.t0; view.t1 = D.t0 + span; }
    if (view.t1 > D.t1) { view.t1 = D.t1; view.t0 = Math.max(D.t0, D.t1 - span); }
  }

  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    zoom(e.deltaY > 0 ? 1.25 : 0.8, t(e.offsetX));
  }, {passive: false});
  var drag = null;
  canvas.addEventListener("mousedown", function (e) { drag = {x: e.clientX, t0: view.t0, t1: view.t1}; });
  window.addEventListener("mouseup", function () { drag = null; });
  window.addEventListener("mousemove", function (e) {
    if (!drag) return;
    var dt = (e.clientX - drag.x) / (width() - LABEL - 4) * (drag.t1 - drag.t0);
    view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt; clamp(); draw();
  });

  function describeOp(id) {
    var o = D.ops[id], parts = ["#" + id, "client " + D.clients[o[0]], D.kinds[o[3]], D.paths[o[5]] || ""];
    if (o[6] !== null) parts.push(JSON.stringify(o[6]));
    parts.push("→ " + ["ok", "fail", "unknown"][o[4]]);
    if (o[10] >= 0) parts.push(D.errors[o[10]]);
    if (o[7] !== null) parts.push("version " + o[7]);
    if (o[8] !== null) parts.push("mzxid 0x" + o[8].toString(16));
    if (o[9] !== null) parts.push("zxid 0x" + o[9].toString(16));
    if (o[11] >= 0) parts.push("via " + D.servers[o[11]]);
    var took = o[2] < 0 ? "never completed" : "took " + (o[2] - o[1]).toFixed(1) + " ms";
    parts.push("| invoked at " + (o[1] / 1000).toFixed(3) + " s, " + took);
    if (o[12] === 1) parts.push("| in a violation");
    if (o[12] === 2) parts.push("| a stale read (allowed)");
    return parts.join(" ");
  }

  canvas.addEventListener("mousemove", function (e) {
    if (drag) return;
    var text = null, y = e.offsetY, tm = t(e.offsetX), slack = 3 * (view.t1 - view.t0) / width();
    if (y >= clientTop) {
      var lane = Math.floor((y - clientTop) / CLIENT_LANE);
      if (lane >= 0 && lane < nClients) {
        byLane[lane].forEach(function (id) {
          var o = D.ops[id];
          if (o[1] - slack <= tm && opEnd(o) + slack >= tm) text = describeOp(id);
        });
      }
    } else if (y >= AXIS + FAULT_ROW) {
      var sl = Math.floor((y - AXIS - FAULT_ROW) / SERVER_LANE), best = null;
      D.marks.forEach(function (m) {
        if (m[0] === sl && Math.abs(m[1] - tm) <= slack * 2 && (best === null || Math.abs(m[1] - tm) < Math.abs(best[1] - tm))) best = m;
      });
      if (best) text = (best[1] / 1000).toFixed(3) + " s " + best[2];
      else D.segs.forEach(function (s) {
        if (s[0] === sl && s[1] <= tm && s[2] >= tm) text = D.servers[sl] + " " + D.states[s[3]] + (s[4] >= 0 ? " (epoch " + s[4] + ")" : "") + " from " + (s[1] / 1000).toFixed(3) + " s to " + (s[2] / 1000).toFixed(3) + " s";
      });
    } else {
      D.faults.forEach(function (f) { if (f[0] <= tm && (f[1] < 0 ? D.t1 : f[1]) >= tm) text = (text ? text + "; " : "") + f[2]; });
    }
    if (text) {
      tip.textContent = text; tip.style.display = "block";
      tip.style.left = (e.pageX + 12) + "px"; tip.style.top = (e.pageY + 12) + "px";
    } else tip.style.display = "none";
  });
  canvas.addEventListener("mouseleave", function () { tip.style.display = "none"; });

  window.zksimFocusOp = function (id) {
    var o = D.ops[id]; if (!o) return false;  // not on a bounded timeline
    var end = opEnd(o), pad = Math.max((end - o[1]) * 4, Math.min(200, (D.t1 - D.t0) * 0.02));
    view.t0 = o[1] - pad; view.t1 = end + pad; clamp(); focus = {op: id}; draw();
    canvas.scrollIntoView({block: "center"});
    return false;
  };
  window.zksimFocusLin = function (i, stay) {
    var lin = D.lin[i]; if (!lin) return false;
    var ids = lin.prefix.concat([lin.stuck]), a = Infinity, b = -Infinity;
    ids.forEach(function (id) { var o = D.ops[id]; a = Math.min(a, o[1]); b = Math.max(b, opEnd(o)); });
    var pad = Math.max((b - a) * 0.05, Math.min(20, (D.t1 - D.t0) * 0.01));
    view.t0 = a - pad; view.t1 = b + pad; clamp(); focus = {lin: i}; draw();
    if (!stay) canvas.scrollIntoView({block: "center"});
    return false;
  };
  document.getElementById("zoom-in").onclick = function () { zoom(0.5); };
  document.getElementById("zoom-out").onclick = function () { zoom(2); };
  document.getElementById("zoom-all").onclick = function () { view.t0 = D.t0; view.t1 = D.t1; focus = null; draw(); };
  window.addEventListener("resize", draw);
  draw();
  // `#lin-N`: the timeline alone, showing the Nth partial linearization (for screenshots).
  var lin = /^#lin-(\d+)$/.exec(location.hash);
  if (lin) { body.classList.add("only-timeline"); window.zksimFocusLin(+lin[1], true); }
})();
