"use strict";
// The vosam page: one canvas showing a frame and its masks, a timeline, and the controls.
// Every change goes through the JSON API of vosam.app.server; the server keeps the state
// (the work, its undo history, where it is saved). The page keeps only how it shows it:
// the frame, the clicks of the current prompt, and each object's visibility and opacity.
// The page first asks for its session (POST /api/session, which sets an HTTP-only cookie);
// every POST is same-origin and sends JSON, or raw bytes for uploads, as the server demands.

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const overlay = document.createElement("canvas");     // the masks as shown, composed
const octx = overlay.getContext("2d", { willReadFrequently: true });
const LAST = "vosam.last-video";                       // localStorage: the video to reopen
const OPACITY = 0.6;

let state = null;
let frame = 0;
let selected = null;          // selected object id
let clicks = [];              // [{x, y, label}] on (frame, selected)
let box = null;               // [x0, y0, x1, y1]
let drag = null;              // {tool, start, points}
let frameImage = null;
let maskIds = null;           // ImageData of the frame's ids (palette colours)
const view = {};              // object id -> {hidden, opacity}
let poll = null;
let savePoll = null;
let loadToken = 0;
let handledJob = null;        // id of the last finished job whose outcome was shown
let playing = false;
let playToken = 0;

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

$("error-close").onclick = () => { $("error").hidden = true; };

function note(message) {
  $("status").textContent = message;
  setTimeout(() => { if ($("status").textContent === message) $("status").textContent = ""; }, 4000);
}

let sessionReady = null;      // the request for this page's session
let renewal = null;           // a new session being made after the old one ended

async function api(method, path, body, raw, renewed) {
  if (path !== "/api/session" && !renewed) {
    // wait for the session (requests sent meanwhile would each make another)
    try { await (renewal || sessionReady); } catch (e) { /* shown */ }
  }
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
    // the session ended (idle too long, or the server restarted): start a new one, open
    // the video again (the server saved its work), and send the request once more
    if (!renewal) {
      renewal = (async () => {
        await api("POST", "/api/session", {}, undefined, true);
        const reopened = await reopen();
        note(`a new session was started${reopened ? `; ${reopened} was opened again` : ""}`);
      })().finally(() => { renewal = null; });
    }
    await renewal;
    return api(method, path, body, raw, true);
  }
  if (!response.ok) {
    showError(data.error || `HTTP ${response.status}`);
    throw new Error(data.error);
  }
  if (method !== "GET") $("error").hidden = true;
  if (data.state) setState(data.state);
  return data;
}

async function reopen() {
  // The video this page had open, opened again (its work comes back from where it is saved).
  const last = localStorage.getItem(LAST);
  if (!last || (state && state.video)) return null;
  try {
    await api("POST", "/api/open", { path: last }, undefined, true);
    return last;
  } catch (e) {
    localStorage.removeItem(LAST);
    return null;
  }
}

async function openPath(path) {
  await api("POST", "/api/open", { path });
  localStorage.setItem(LAST, path);
  if (state.saved && state.saved.restored) note(`restored the work saved in ${state.saved.folder}`);
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
    setPlaying(false);
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
  if (videoChanged || rev(previous) !== rev(state) || !maskIds) loadFrame(videoChanged);
  else if (previous && JSON.stringify(previous.objects) !== JSON.stringify(state.objects)) compose();
  if (videoChanged) prefetch();
  watchJob();
  watchSaving();
}

function kindOf(index) {
  if (!state || !state.video) return "";
  if (state.annotated.includes(index)) return "annotated";
  if (state.corrected.includes(index)) return "corrected";
  if (state.propagated.includes(index)) return "propagated";
  return "";
}

function render() {
  const video = state && state.video;
  $("video-label").textContent = video ? `${video.label} · ${video.frames} frames · ${video.width}×${video.height}` : "";
  $("slider").max = video ? video.frames - 1 : 0;
  $("slider").value = frame;
  $("frame-label").textContent = video ? `frame ${frame + 1}/${video.frames} (${video.names[frame]})` : "no video";
  const kind = kindOf(frame);
  $("frame-kind").textContent = kind;
  $("frame-kind").className = kind;
  $("frame-kind").title = kind === "corrected"
    ? "corrected on this frame only; Make annotation (Enter) puts it in permanent memory" : "";
  $("confirm").disabled = kind !== "corrected" && kind !== "propagated";
  $("clear-frame").disabled = kind !== "corrected" && kind !== "annotated";
  $("clear-frame").textContent = kind === "corrected" ? "Drop correction" : "Drop annotation";
  const history = state && state.history;
  $("undo").disabled = !history || !history.undo;
  $("redo").disabled = !history || !history.redo;
  $("undo").title = history && history.undo ? `undo ${history.undo} (Ctrl+Z)` : "nothing to undo (Ctrl+Z)";
  $("redo").title = history && history.redo ? `redo ${history.redo} (Ctrl+Shift+Z)` : "nothing to redo (Ctrl+Shift+Z)";
  renderSaved();
  renderObjects();
  renderTimeline();
  renderJob();
}

function renderSaved() {
  const saved = state && state.video && state.saved;
  const shown = $("saved");
  if (!saved) { shown.textContent = ""; delete shown.dataset.state; return; }
  shown.dataset.state = saved.state;
  shown.textContent = {
    saved: `✓ saved in ${saved.folder}`,
    unsaved: `saving in ${saved.folder}…`,
  }[saved.state] || `not saved: ${saved.problem}`;
  shown.title = [saved.problem, saved.note].filter(Boolean).join("; ") || "where this video's work is saved";
}

function watchSaving() {
  // the server saves a moment after a change: look again until it has
  clearTimeout(savePoll);
  if (!state || !state.saved || state.saved.state !== "unsaved") return;
  const delay = 1000 * (state.limits.save_delay_s || 1) + 300;
  savePoll = setTimeout(() => { api("GET", "/api/state").catch(() => {}); }, delay);
}

let objectsKey = "";

function viewOf(id) {
  if (!view[id]) view[id] = { hidden: false, opacity: OPACITY };
  return view[id];
}

function renderObjects() {
  const list = $("objects");
  const key = JSON.stringify(state ? state.objects : []);
  if (key === objectsKey) {
    list.childNodes.forEach((item) => {
      item.classList.toggle("selected", Number(item.dataset.id) === selected);
    });
    return;
  }
  objectsKey = key;
  list.replaceChildren();
  for (const object of (state ? state.objects : [])) {
    const shown = viewOf(object.id);
    const item = document.createElement("li");
    item.dataset.id = object.id;
    item.classList.toggle("selected", object.id === selected);
    item.classList.toggle("hidden-object", shown.hidden);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = object.color;
    const visible = document.createElement("input");
    visible.type = "checkbox";
    visible.className = "visible";
    visible.checked = !shown.hidden;
    visible.title = "show / hide this object";
    visible.onclick = (e) => e.stopPropagation();
    visible.onchange = () => {
      shown.hidden = !visible.checked;
      item.classList.toggle("hidden-object", shown.hidden);
      compose();
    };
    const name = document.createElement("input");
    name.type = "text";
    name.value = object.name;
    name.onchange = () => api("POST", `/api/objects/${object.id}`, { name: name.value }).catch(() => {});
    const opacity = document.createElement("input");
    opacity.type = "range";
    opacity.className = "opacity";
    opacity.min = "0"; opacity.max = "100";
    opacity.value = String(Math.round(shown.opacity * 100));
    opacity.title = "opacity of this object's mask";
    opacity.onclick = (e) => e.stopPropagation();
    opacity.oninput = () => { shown.opacity = Number(opacity.value) / 100; compose(); };
    const remove = document.createElement("button");
    remove.textContent = "✕";
    remove.title = "delete this object from every frame (undo brings it back)";
    remove.onclick = (e) => { e.stopPropagation(); api("POST", `/api/objects/${object.id}`, { delete: true }).catch(() => {}); };
    item.onclick = () => { if (selected !== object.id) { selected = object.id; clicks = []; box = null; renderObjects(); draw(); } };
    item.append(swatch, visible, name, opacity, remove);
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
  if (!n) return;
  const annotated = new Set(state.annotated);
  const corrected = new Set(state.corrected);
  const propagated = new Set(state.propagated);
  const suggested = new Set(state.suggested);
  line.childNodes.forEach((cell, i) => {
    const kind = annotated.has(i) ? "annotated" : corrected.has(i) ? "corrected" : propagated.has(i) ? "propagated" : "";
    cell.className = [kind, suggested.has(i) ? "suggested" : "", i === frame ? "current" : ""].join(" ").trim();
    cell.title = [video.names[i], kind, suggested.has(i) ? "suggested" : ""].filter(Boolean).join(" · ");
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
    const [image, ids] = await Promise.all([
      newFrame || !frameImage || frameImage.index !== index ? loadImage(`/api/frame/${index}`) : frameImage,
      loadImage(`/api/ids/${index}?rev=${rev}&p=${propagated}&t=${Date.now()}`),
    ]);
    if (token !== loadToken) return;
    image.index = index;
    frameImage = image;
    overlay.width = ids.width;
    overlay.height = ids.height;
    octx.drawImage(ids, 0, 0);
    maskIds = octx.getImageData(0, 0, ids.width, ids.height);
    compose();
    canvas.dataset.frame = index;
    canvas.dataset.rev = rev;
  } catch (e) {
    if (token === loadToken) showError(e.message);
  }
}

function compose() {
  // The masks as shown: each object in its colour, at its opacity, unless hidden.
  if (!maskIds || !state) return;
  const alpha = new Map();
  for (const object of state.objects) {
    const shown = viewOf(object.id);
    const rgb = parseInt(object.color.slice(1), 16);
    alpha.set(rgb, shown.hidden ? 0 : Math.round(255 * shown.opacity));
  }
  const out = octx.createImageData(maskIds.width, maskIds.height);
  const src = maskIds.data;
  const dst = out.data;
  for (let i = 0; i < src.length; i += 4) {
    const a = alpha.get((src[i] << 16) | (src[i + 1] << 8) | src[i + 2]);
    if (!a) continue;  // background, void, hidden
    dst[i] = src[i]; dst[i + 1] = src[i + 1]; dst[i + 2] = src[i + 2]; dst[i + 3] = a;
  }
  octx.putImageData(out, 0, 0);
  draw();
}

function fit() {
  // Show the frame as large as the stage allows, keeping its aspect ratio.
  const stage = $("stage").getBoundingClientRect();
  const room = Math.max(window.innerHeight - stage.top - 110, 200);
  const scale = Math.min(stage.width / canvas.width, room / canvas.height);
  canvas.style.width = `${Math.floor(canvas.width * scale)}px`;
  canvas.style.height = `${Math.floor(canvas.height * scale)}px`;
}

function draw() {
  if (!frameImage) return;
  fit();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(frameImage, 0, 0);
  if (maskIds) ctx.drawImage(overlay, 0, 0);
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
  if (playing || !state || !state.video || !["pos", "neg", "box"].includes(tool())) return;
  prefetchTimer = setTimeout(() => {
    fetch("/api/embed", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ frame }) }).catch(() => {});
  }, 400);
}

function goTo(index) {
  if (!state || !state.video) return Promise.resolve();
  index = Math.max(0, Math.min(state.video.frames - 1, index));
  if (index !== frame) { clicks = []; box = null; }
  frame = index;
  render();
  prefetch();
  return loadFrame(true);
}

// -- playback ----------------------------------------------------------------------------

function setPlaying(on) {
  playing = on;
  playToken += 1;
  $("play").dataset.playing = String(on);
  $("play").textContent = on ? "⏸ Pause" : "▶ Play";
  if (on) play(playToken);
}

function togglePlay() {
  if (!state || !state.video) return;
  setPlaying(!playing);
}

async function play(token) {
  // Show the frames one after another at the app's frame rate, each once it has loaded.
  const last = state.video.frames - 1;
  const period = 1000 / (state.limits.fps || 24);
  if (frame >= last) await goTo(0);
  while (playing && token === playToken && frame < last) {
    const started = performance.now();
    await goTo(frame + 1);
    const wait = period - (performance.now() - started);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  if (token === playToken && playing) setPlaying(false);
}

// -- editing ---------------------------------------------------------------------------------

function tool() { return document.querySelector("input[name=tool]:checked").value; }
function radius() { return Number($("radius").value); }

function imagePoint(event) {
  const rect = canvas.getBoundingClientRect();
  return [
    (event.clientX - rect.left) * (canvas.width / rect.width),
    (event.clientY - rect.top) * (canvas.height / rect.height),
  ];
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

function adopt(data) {
  // A click or stroke without an object made one: it is the selected object now.
  if (data && data.object !== undefined && data.object !== selected) {
    selected = data.object;
    renderObjects();
  }
}

async function sendPrompt() {
  const body = { frame, points: clicks.map((c) => [c.x, c.y]), labels: clicks.map((c) => c.label) };
  if (selected !== null) body.object = selected;
  if (box) body.box = box;
  draw();
  adopt(await busy("segmenting…", () => api("POST", "/api/prompt", body)));
}

canvas.addEventListener("contextmenu", (e) => e.preventDefault());
canvas.addEventListener("mousedown", (e) => {
  canvas.focus();
  if (!state || !state.video) { showError("open a video first"); return; }
  setPlaying(false);
  const t = tool();
  if (t === "erase" && selected === null) { showError("choose the object to erase"); return; }
  const p = imagePoint(e);
  if (t === "pos" || t === "neg") {
    const label = t === "pos" && e.button === 0 && !e.shiftKey ? 1 : 0;
    clicks.push({ x: p[0], y: p[1], label });
    sendPrompt().catch(() => { clicks.pop(); draw(); });
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
    const stroke = { frame, points: done.points, radius: radius(), erase: done.tool === "erase" };
    if (selected !== null) stroke.object = selected;
    busy("painting…", () => api("POST", "/api/paint", stroke)).then(adopt).catch(() => draw());
  }
});

async function step(action) {
  // Undo or redo one change of the work, and show the frame it changed.
  if (!state || !state.video) return;
  let data;
  try { data = await api("POST", `/api/${action}`, {}); } catch (e) { return; }
  if (data.frames && data.frames.length && !data.frames.includes(frame)) await goTo(data.frames[0]);
  const p = data.prompt;
  if (p && p.frame === frame) {
    // the clicks of the prompt now in force on this frame, so the next click adds to them
    if (state.objects.some((o) => o.id === p.object)) selected = p.object;
    clicks = p.points.map(([x, y], i) => ({ x, y, label: p.labels[i] }));
    box = p.box;
    renderObjects();
    draw();
  }
  note(`${action === "undo" ? "undid" : "redid"} ${data.undone || data.redone}`);
}

function confirmFrame() {
  if (!state || !state.video || $("confirm").disabled) return;
  api("POST", "/api/confirm", { frame }).catch(() => {});
}

// -- the workspace's videos ------------------------------------------------------------------

async function showVideos() {
  const panel = $("videos");
  if (!panel.hidden) { panel.hidden = true; return; }
  let data;
  try { data = await api("GET", "/api/videos"); } catch (e) { return; }
  const list = $("video-list");
  list.replaceChildren();
  for (const video of data.videos) {
    const item = document.createElement("li");
    item.dataset.path = video.path;
    const name = document.createElement("span");
    name.textContent = video.path;
    const info = document.createElement("span");
    info.className = video.saved ? "info saved" : "info";
    const size = video.kind === "frames" ? `${video.frames} frames` : "video file";
    info.textContent = video.saved ? `${size} · saved work` : size;
    item.append(name, info);
    item.onclick = () => {
      panel.hidden = true;
      $("path").value = video.path;
      openPath(video.path).catch(() => {});
    };
    list.append(item);
  }
  $("videos-note").textContent = data.videos.length
    ? (data.cut ? "the workspace holds more than was searched; type a path to open others" : "")
    : "no frame folders or video files in the workspace";
  panel.hidden = false;
}

$("videos-button").onclick = (e) => { e.stopPropagation(); showVideos(); };
document.addEventListener("click", (e) => {
  if (!$("videos-menu").contains(e.target)) $("videos").hidden = true;
});

// -- controls --------------------------------------------------------------------------------

$("open-form").onsubmit = (e) => {
  e.preventDefault();
  openPath($("path").value).catch(() => {});
};
$("upload").onchange = async () => {
  const file = $("upload").files[0];
  $("upload").value = "";
  if (!file) return;
  if (state && file.size > state.limits.max_upload_bytes) {
    showError(`${file.name}: ${(file.size / 2 ** 20).toFixed(1)} MiB is over the upload limit of ${(state.limits.max_upload_bytes / 2 ** 20).toFixed(1)} MiB`);
    return;
  }
  api("POST", `/api/upload?name=${encodeURIComponent(file.name)}`, undefined, file)
    .then(() => localStorage.removeItem(LAST)).catch(() => {});
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
$("play").onclick = togglePlay;
$("undo").onclick = () => step("undo");
$("redo").onclick = () => step("redo");
$("confirm").onclick = confirmFrame;

function typing(target) {
  // fields whose keys are their own: Ctrl+Z there undoes the text, space types a space
  if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !["range", "radio", "checkbox", "button", "file"].includes(target.type);
}

document.addEventListener("keydown", (e) => {
  if (typing(e.target)) return;
  const key = e.key.toLowerCase();
  if ((e.ctrlKey || e.metaKey) && !e.altKey && (key === "z" || key === "y")) {
    e.preventDefault();
    step(key === "y" || e.shiftKey ? "redo" : "undo");
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === " ") {
    e.preventDefault();  // not the focused button's click
    togglePlay();
  } else if (e.key === "Enter" && e.target.tagName !== "BUTTON") {
    e.preventDefault();
    confirmFrame();
  } else if (e.key === "ArrowLeft") {
    goTo(frame - 1);
  } else if (e.key === "ArrowRight") {
    goTo(frame + 1);
  } else if (e.key === "Escape") {
    $("videos").hidden = true;
  }
});
document.addEventListener("keyup", (e) => {
  if (e.key === " " && e.target.tagName === "BUTTON") e.preventDefault();
});
document.querySelectorAll("input[name=tool]").forEach((radio) => { radio.onchange = prefetch; });
$("radius").oninput = () => { $("radius-value").textContent = $("radius").value; };
$("clear-clicks").onclick = () => { clicks = []; box = null; draw(); };
$("clear-frame").onclick = () => api("POST", "/api/clear", { frame }).catch(() => {});
$("propagate").onclick = () => api("POST", "/api/propagate", { frame, direction: $("direction").value }).catch(() => {});
$("suggest").onclick = () => api("POST", "/api/suggest", { k: Number($("suggest-k").value) }).catch(() => {});
$("cancel").onclick = () => api("POST", "/api/cancel", {}).catch(() => {});
document.querySelectorAll("[data-export]").forEach((button) => {
  button.onclick = () => api("POST", "/api/export", { kind: button.dataset.export }).catch(() => {});
});
window.addEventListener("resize", draw);

sessionReady = api("POST", "/api/session", {});
sessionReady.then(reopen).catch(() => {});
