"use strict";
// The vosam page: one canvas showing a frame and its masks, a timeline, and the controls.
// Every change goes through the JSON API of vosam.app.server; the server keeps the state.
// The page first asks for its session (POST /api/session, which sets an HTTP-only cookie);
// every POST is same-origin and sends JSON, or raw bytes for uploads, as the server demands.

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");

let state = null;
let frame = 0;
let selected = null;          // selected object id
let clicks = [];              // [{x, y, label}] on (frame, selected)
let box = null;               // [x0, y0, x1, y1]
let drag = null;              // {tool, start, points}
let frameImage = null;
let maskImage = null;
let poll = null;
let loadToken = 0;
let handledJob = null;        // id of the last finished job whose outcome was shown

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

$("error-close").onclick = () => { $("error").hidden = true; };

async function api(method, path, body, raw, renewed) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (raw !== undefined) {
    options.body = raw;
    options.headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    showError(`the server cannot be reached (${e.message})`);
    throw e;
  }
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: `HTTP ${response.status}` }; }
  if (response.status === 401 && path !== "/api/session" && !renewed) {
    // the session ended (idle too long, or the server restarted): start a new one
    await api("POST", "/api/session", {}, undefined, true);
    showError(`${data.error || "the session ended"} — a new session was started`);
    throw new Error(data.error);
  }
  if (!response.ok) {
    showError(data.error || `HTTP ${response.status}`);
    throw new Error(data.error);
  }
  if (method !== "GET") $("error").hidden = true;
  if (data.state) setState(data.state);
  return data;
}

function setState(next) {
  // responses can arrive out of order: never go back to an older snapshot of this server
  if (state && next.boot === state.boot && next.serial < state.serial) return;
  const previous = state;
  state = next;
  const video = state.video;
  if (!video) { render(); return; }
  const videoChanged = !previous || !previous.video || previous.boot !== state.boot
    || previous.video.generation !== video.generation;
  if (videoChanged) {
    frame = 0;
    canvas.width = video.width;
    canvas.height = video.height;
    clicks = []; box = null;
  }
  if (!state.objects.some((o) => o.id === selected)) {
    selected = state.objects.length ? state.objects[state.objects.length - 1].id : null;
  }
  render();
  const rev = (s) => (s && s.revisions[String(frame)]) || 0;
  if (videoChanged || rev(previous) !== rev(state) || !maskImage) loadFrame(videoChanged);
  if (videoChanged) prefetch();
  watchJob();
}

function render() {
  const video = state && state.video;
  $("video-label").textContent = video ? `${video.label} · ${video.frames} frames · ${video.width}×${video.height}` : "";
  $("slider").max = video ? video.frames - 1 : 0;
  $("slider").value = frame;
  $("frame-label").textContent = video ? `frame ${frame + 1}/${video.frames} (${video.names[frame]})` : "no video";
  renderObjects();
  renderTimeline();
  renderJob();
}

let objectsKey = "";

function renderObjects() {
  const list = $("objects");
  const key = JSON.stringify(state ? state.objects : []);
  if (key === objectsKey) {
    list.childNodes.forEach((item) => {
      item.className = Number(item.dataset.id) === selected ? "selected" : "";
    });
    return;
  }
  objectsKey = key;
  list.replaceChildren();
  for (const object of (state ? state.objects : [])) {
    const item = document.createElement("li");
    item.dataset.id = object.id;
    item.className = object.id === selected ? "selected" : "";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = object.color;
    const name = document.createElement("input");
    name.type = "text";
    name.value = object.name;
    name.onchange = () => api("POST", `/api/objects/${object.id}`, { name: name.value });
    const remove = document.createElement("button");
    remove.textContent = "✕";
    remove.title = "delete this object from every frame";
    remove.onclick = (e) => { e.stopPropagation(); api("POST", `/api/objects/${object.id}`, { delete: true }); };
    item.onclick = () => { if (selected !== object.id) { selected = object.id; clicks = []; box = null; renderObjects(); draw(); } };
    item.append(swatch, name, remove);
    list.append(item);
  }
}

function renderTimeline() {
  const line = $("timeline");
  const video = state && state.video;
  const n = video ? video.frames : 0;
  if (line.childElementCount !== n) {
    line.replaceChildren();
    for (let i = 0; i < n; i++) {
      const cell = document.createElement("div");
      cell.dataset.frame = i;
      cell.onclick = () => goTo(i);
      line.append(cell);
    }
  }
  const annotated = new Set(state ? state.annotated : []);
  const propagated = new Set(state ? state.propagated : []);
  const suggested = new Set(state ? state.suggested : []);
  line.childNodes.forEach((cell, i) => {
    cell.className = [
      annotated.has(i) ? "annotated" : propagated.has(i) ? "propagated" : "",
      suggested.has(i) ? "suggested" : "",
      i === frame ? "current" : "",
    ].join(" ").trim();
    cell.title = `${video.names[i]}${annotated.has(i) ? " · annotated" : ""}${suggested.has(i) ? " · suggested" : ""}`;
  });
}

function renderJob() {
  const job = state && state.job;
  const panel = $("job");
  if (!job) { panel.hidden = true; return; }
  panel.hidden = false;
  $("progress").max = Math.max(job.total, 1);
  $("progress").value = job.done;
  const rate = job.rate ? ` · ${job.rate.toFixed(2)} frames/s` : "";
  $("job-text").textContent = `${job.kind}: ${job.state} ${job.done}/${job.total}${rate}`;
  panel.dataset.state = job.state;
  panel.dataset.job = job.id;
  const active = job.state === "running" || job.state === "queued";
  $("cancel").disabled = !active;
  document.querySelectorAll(".starts-job").forEach((button) => { button.disabled = active; });
}

function watchJob() {
  const job = state && state.job;
  const active = job && (job.state === "queued" || job.state === "running");
  if (active && !poll) {
    poll = setInterval(async () => {
      try { await api("GET", "/api/state"); } catch (e) { /* shown */ }
    }, 300);
  } else if (!active && poll) {
    clearInterval(poll);
    poll = null;
  }
  if (job && !active && job.id !== handledJob) {
    handledJob = job.id;
    finishJob(job);
  }
}

function finishJob(job) {
  loadFrame(false);
  if (!job) return;
  if (job.state === "failed") showError(job.error);
  if (job.state === "done" && job.result && job.result.url) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = job.result.url;
    link.download = job.result.file;
    link.textContent = job.result.file;
    link.id = `download-${job.kind.split(" ")[1]}`;
    const old = document.getElementById(link.id);
    if (old) old.parentElement.remove();
    item.append(link);
    $("downloads").append(item);
  }
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`cannot load ${src}`));
    image.src = src;
  });
}

async function loadFrame(newFrame) {
  if (!state || !state.video) return;
  const token = ++loadToken;
  const index = frame;
  const rev = state.revisions[String(index)] || 0;
  const propagated = state.propagated.length;
  try {
    const [image, mask] = await Promise.all([
      newFrame || !frameImage || frameImage.index !== index ? loadImage(`/api/frame/${index}`) : frameImage,
      loadImage(`/api/mask/${index}?rev=${rev}&p=${propagated}&t=${Date.now()}`),
    ]);
    if (token !== loadToken) return;
    image.index = index;
    frameImage = image;
    maskImage = mask;
    canvas.dataset.frame = index;
    canvas.dataset.rev = rev;
    draw();
  } catch (e) {
    if (token === loadToken) showError(e.message);
  }
}

function fit() {
  // Show the frame as large as the stage allows, keeping its aspect ratio.
  const stage = $("stage").getBoundingClientRect();
  const room = Math.max(window.innerHeight - stage.top - 90, 200);
  const scale = Math.min(stage.width / canvas.width, room / canvas.height);
  canvas.style.width = `${Math.floor(canvas.width * scale)}px`;
  canvas.style.height = `${Math.floor(canvas.height * scale)}px`;
}

function draw() {
  if (!frameImage) return;
  fit();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(frameImage, 0, 0);
  if (maskImage) ctx.drawImage(maskImage, 0, 0);
  const unit = Math.max(canvas.width / canvas.getBoundingClientRect().width, 1);
  for (const c of clicks) {
    ctx.beginPath();
    ctx.arc(c.x, c.y, 5 * unit, 0, 2 * Math.PI);
    ctx.fillStyle = c.label ? "#1fbf4a" : "#e53935";
    ctx.fill();
    ctx.lineWidth = 1.5 * unit;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
  }
  const shown = drag && drag.tool === "box" ? drag.box : box;
  if (shown) {
    ctx.lineWidth = 2 * unit;
    ctx.strokeStyle = "#ffeb3b";
    ctx.strokeRect(shown[0], shown[1], shown[2] - shown[0], shown[3] - shown[1]);
  }
  if (drag && (drag.tool === "brush" || drag.tool === "erase")) {
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = 2 * radius();
    ctx.strokeStyle = drag.tool === "erase" ? "rgba(0,0,0,0.5)" : "rgba(255,255,255,0.5)";
    ctx.beginPath();
    drag.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (drag.points.length === 1) ctx.lineTo(drag.points[0][0] + 0.01, drag.points[0][1]);
    ctx.stroke();
  }
}

let prefetchTimer = null;

function prefetch() {
  // Let the server embed the shown frame while the user looks at it, so a click is quick.
  clearTimeout(prefetchTimer);
  if (!state || !state.video || !["pos", "neg", "box"].includes(tool())) return;
  prefetchTimer = setTimeout(() => {
    fetch("/api/embed", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ frame }) }).catch(() => {});
  }, 400);
}

function goTo(index) {
  if (!state || !state.video) return;
  index = Math.max(0, Math.min(state.video.frames - 1, index));
  if (index !== frame) { clicks = []; box = null; }
  frame = index;
  render();
  loadFrame(true);
  prefetch();
}

function tool() { return document.querySelector("input[name=tool]:checked").value; }
function radius() { return Number($("radius").value); }

function imagePoint(event) {
  const rect = canvas.getBoundingClientRect();
  return [
    (event.clientX - rect.left) * (canvas.width / rect.width),
    (event.clientY - rect.top) * (canvas.height / rect.height),
  ];
}

function needObject() {
  if (!state || !state.video) { showError("open a video first"); return false; }
  if (selected === null) { showError("add an object first"); return false; }
  return true;
}

async function busy(label, work) {
  // Show that a click or stroke is being worked on (the first click on a frame embeds it).
  $("status").textContent = label;
  document.body.classList.add("busy");
  try { return await work(); } finally {
    $("status").textContent = "";
    document.body.classList.remove("busy");
  }
}

async function sendPrompt() {
  const body = { frame, object: selected, points: clicks.map((c) => [c.x, c.y]), labels: clicks.map((c) => c.label) };
  if (box) body.box = box;
  draw();
  await busy("segmenting…", () => api("POST", "/api/prompt", body));
}

canvas.addEventListener("contextmenu", (e) => e.preventDefault());
canvas.addEventListener("mousedown", (e) => {
  if (!needObject()) return;
  const t = tool();
  const p = imagePoint(e);
  if (t === "pos" || t === "neg") {
    const label = t === "pos" && e.button === 0 && !e.shiftKey ? 1 : 0;
    clicks.push({ x: p[0], y: p[1], label });
    sendPrompt().catch(() => {});
    return;
  }
  drag = { tool: t, start: p, points: [p], box: [p[0], p[1], p[0], p[1]] };
  draw();
});
function showCursor(p) {
  // Frame pixel under the cursor and the current box, as `vosam segment --box` takes it.
  const shown = drag && drag.tool === "box" ? drag.box : box;
  const at = p ? `x ${Math.floor(p[0])}, y ${Math.floor(p[1])}` : "";
  const corners = shown ? `  box ${shown.map(Math.floor).join(",")}` : "";
  $("cursor").textContent = at + corners;
}

canvas.addEventListener("mousemove", (e) => {
  const p = imagePoint(e);
  if (!drag) { showCursor(p); return; }
  if (drag.tool === "box") {
    drag.box = [Math.min(drag.start[0], p[0]), Math.min(drag.start[1], p[1]), Math.max(drag.start[0], p[0]), Math.max(drag.start[1], p[1])];
  } else {
    drag.points.push(p);
  }
  showCursor(p);
  draw();
});
window.addEventListener("mouseup", () => {
  if (!drag) return;
  const done = drag;
  drag = null;
  if (done.tool === "box") {
    box = done.box;
    showCursor(null);
    sendPrompt().catch(() => {});
  } else {
    const stroke = { frame, object: selected, points: done.points, radius: radius(), erase: done.tool === "erase" };
    busy("painting…", () => api("POST", "/api/paint", stroke)).catch(() => draw());
  }
});

$("open-form").onsubmit = (e) => {
  e.preventDefault();
  api("POST", "/api/open", { path: $("path").value }).catch(() => {});
};
$("upload").onchange = async () => {
  const file = $("upload").files[0];
  $("upload").value = "";
  if (!file) return;
  if (state && file.size > state.limits.max_upload_bytes) {
    showError(`${file.name}: ${(file.size / 2 ** 20).toFixed(1)} MiB is over the upload limit of ${(state.limits.max_upload_bytes / 2 ** 20).toFixed(1)} MiB`);
    return;
  }
  api("POST", `/api/upload?name=${encodeURIComponent(file.name)}`, undefined, file).catch(() => {});
};
$("mask-upload").onchange = async () => {
  const file = $("mask-upload").files[0];
  $("mask-upload").value = "";
  if (!file || !state || !state.video) return;
  api("POST", `/api/mask?frame=${frame}&name=${encodeURIComponent(file.name)}`, undefined, file).catch(() => {});
};
$("add-object").onclick = async () => {
  try {
    const data = await api("POST", "/api/objects", {});
    selected = data.id;
    clicks = []; box = null;
    render();
  } catch (e) { /* shown */ }
};
$("slider").oninput = () => goTo(Number($("slider").value));
$("prev").onclick = () => goTo(frame - 1);
$("next").onclick = () => goTo(frame + 1);
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" && e.target.type !== "range" && e.target.type !== "radio") return;
  if (e.key === "ArrowLeft") goTo(frame - 1);
  if (e.key === "ArrowRight") goTo(frame + 1);
});
document.querySelectorAll("input[name=tool]").forEach((radio) => { radio.onchange = prefetch; });
$("radius").oninput = () => { $("radius-value").textContent = $("radius").value; };
$("clear-clicks").onclick = () => { clicks = []; box = null; draw(); };
$("clear-frame").onclick = () => api("POST", "/api/clear", { frame }).catch(() => {});
$("propagate-forward").onclick = () => api("POST", "/api/propagate", { frame, direction: "forward" }).catch(() => {});
$("propagate-backward").onclick = () => api("POST", "/api/propagate", { frame, direction: "backward" }).catch(() => {});
$("suggest").onclick = () => api("POST", "/api/suggest", { k: Number($("suggest-k").value) }).catch(() => {});
$("cancel").onclick = () => api("POST", "/api/cancel", {}).catch(() => {});
document.querySelectorAll("[data-export]").forEach((button) => {
  button.onclick = () => api("POST", "/api/export", { kind: button.dataset.export }).catch(() => {});
});
window.addEventListener("resize", draw);

api("POST", "/api/session", {}).catch(() => {});
