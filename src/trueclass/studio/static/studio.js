// trueclass studio: the page over the studio's JSON API. Plain JavaScript, nothing fetched
// from elsewhere. Every request that changes the project carries the page's token.
"use strict";

const TOKEN = document.querySelector('meta[name="trueclass-token"]').content;
const $ = (sel) => document.querySelector(sel);
let project = null;
let cameraStream = null;
let livePreview = null;
let polling = null;

function say(text, isError = false) {
  const m = $("#message");
  m.textContent = text || "";
  m.className = isError ? "error" : "";
}

async function api(path, { method = "GET", json, body } = {}) {
  const opts = { method, headers: {} };
  if (method !== "GET") opts.headers["X-Trueclass-Token"] = TOKEN;
  if (json !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(json); }
  else if (body !== undefined) opts.body = body;
  let res;
  try { res = await fetch(path, opts); }
  catch (e) { throw new Error("The studio is not answering; is `trueclass studio` still running?"); }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `The studio answered ${res.status}.`);
  return data;
}

function imageUrl(file) { return "/api/image?file=" + encodeURIComponent(file); }

// -- classes ------------------------------------------------------------------------------
async function refresh() {
  project = await api("/api/project");
  $("#project-root").textContent = project.root;
  renderClasses();
  const t = project.training || {};
  if (t.status === "done" && t.result) showResult(t.result);
  else if (project.last_result && $("#results").hidden) showResult(project.last_result);
}

function renderClasses() {
  const box = $("#classes");
  box.replaceChildren();
  const select = $("#draw-class");
  const chosen = select.value;
  select.replaceChildren();
  if (!project.classes.length) {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = "No classes yet: add one above, or start from the digits.";
    box.append(p);
  }
  for (const c of project.classes) {
    const card = document.createElement("div");
    card.className = "class-card";
    card.dataset.name = c.name;
    const title = document.createElement("h3");
    title.textContent = c.name;
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = `${c.count} image${c.count === 1 ? "" : "s"}, ${c.sessions} session${c.sessions === 1 ? "" : "s"}`;
    const tools = document.createElement("div");
    tools.className = "row";
    const upload = document.createElement("label");
    upload.className = "button secondary upload";
    upload.textContent = "Upload";
    const input = document.createElement("input");
    input.type = "file"; input.multiple = true; input.accept = "image/*"; input.hidden = true;
    input.addEventListener("change", () => { uploadFiles(c.name, input.files, "upload"); input.value = ""; });
    upload.append(input);
    const rec = document.createElement("button");
    rec.type = "button"; rec.className = "secondary record"; rec.textContent = "Hold to record";
    setupRecord(rec, c.name);
    const rename = document.createElement("button");
    rename.type = "button"; rename.className = "secondary rename"; rename.textContent = "Rename";
    rename.addEventListener("click", () => renameClass(c.name));
    const del = document.createElement("button");
    del.type = "button"; del.className = "danger delete"; del.textContent = "Delete";
    del.addEventListener("click", () => deleteClass(c.name, c.count));
    tools.append(upload, rec, rename, del);
    const grid = document.createElement("div");
    grid.className = "grid";
    for (const f of c.files.slice(-24)) {
      const img = document.createElement("img");
      img.src = imageUrl(f); img.alt = c.name; img.loading = "lazy";
      grid.append(img);
    }
    card.append(title, count, tools, grid);
    card.addEventListener("dragover", (e) => { e.preventDefault(); card.classList.add("drop"); });
    card.addEventListener("dragleave", () => card.classList.remove("drop"));
    card.addEventListener("drop", (e) => {
      e.preventDefault(); card.classList.remove("drop");
      uploadFiles(c.name, e.dataTransfer.files, "upload");
    });
    box.append(card);
    const opt = document.createElement("option");
    opt.value = opt.textContent = c.name;
    select.append(opt);
  }
  if (chosen) select.value = chosen;
}

async function addClass(ev) {
  ev.preventDefault();
  const name = $("#new-class").value.trim();
  if (!name) { say("Type a class name first.", true); return; }
  try {
    await api("/api/classes", { method: "POST", json: { name } });
    $("#new-class").value = "";
    say(`Class '${name}' added.`);
    await refresh();
  } catch (e) { say(e.message, true); }
}

async function renameClass(old) {
  const name = prompt(`New name for '${old}':`, old);
  if (!name || name === old) return;
  try { await api("/api/classes/rename", { method: "POST", json: { old, new: name } }); say(`Renamed '${old}' to '${name}'.`); await refresh(); }
  catch (e) { say(e.message, true); }
}

async function deleteClass(name, count) {
  if (!confirm(`Delete the class '${name}' and its ${count} images? They are kept in the project's .trueclass/trash folder.`)) return;
  try { await api("/api/classes/delete", { method: "POST", json: { name } }); say(`Deleted '${name}'.`); await refresh(); }
  catch (e) { say(e.message, true); }
}

async function uploadFiles(name, files, kind) {
  if (!files || !files.length) return;
  const form = new FormData();
  form.append("class", name);
  form.append("kind", kind);
  for (const f of files) form.append("files", f, f.name || "image.png");
  say(`Adding ${files.length} image${files.length === 1 ? "" : "s"} to '${name}'...`);
  try {
    const r = await api("/api/images", { method: "POST", body: form });
    let text = `Added ${r.added.length} image${r.added.length === 1 ? "" : "s"} to '${name}'.`;
    if (r.refused.length) text += " Refused: " + r.refused.map((x) => x.reason).join(" ");
    say(text, r.refused.length > 0);
    await refresh();
  } catch (e) { say(e.message, true); }
}

// -- webcam -------------------------------------------------------------------------------
async function startCamera() {
  if (cameraStream) return cameraStream;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("This browser gives the page no camera (it needs http://127.0.0.1 or https).");
  }
  cameraStream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
  const v = $("#camera");
  v.srcObject = cameraStream;
  v.hidden = false;
  await new Promise((ok) => { if (v.readyState >= 2) ok(); else v.onloadeddata = ok; });
  return cameraStream;
}

function frameBlob(size = 224) {
  const v = $("#camera");
  const c = document.createElement("canvas");
  const side = Math.min(v.videoWidth, v.videoHeight);
  c.width = c.height = size;
  c.getContext("2d").drawImage(v, (v.videoWidth - side) / 2, (v.videoHeight - side) / 2, side, side, 0, 0, size, size);
  return new Promise((ok) => c.toBlob(ok, "image/jpeg", 0.9));
}

function setupRecord(button, name) {
  // the button keeps the pointer while held (pointer capture), so the camera's preview
  // appearing and moving the page does not end the burst
  let frames = [], timer = null, holding = false;
  const stop = async () => {
    holding = false;
    if (!timer) return;
    clearInterval(timer); timer = null;
    button.textContent = "Hold to record";
    const taken = frames; frames = [];
    if (taken.length) await uploadFiles(name, taken.map((b, i) => new File([b], `frame-${i}.jpg`, { type: "image/jpeg" })), "webcam");
  };
  button.addEventListener("pointerdown", async (e) => {
    e.preventDefault();
    button.setPointerCapture(e.pointerId);
    holding = true;
    try { await startCamera(); } catch (err) { holding = false; say(err.message, true); return; }
    if (!holding) return;
    frames = [];
    timer = setInterval(async () => { const b = await frameBlob(); if (timer) { frames.push(b); button.textContent = `Recording: ${frames.length}`; } }, 125);
  });
  button.addEventListener("pointerup", stop);
  button.addEventListener("pointercancel", stop);
  button.addEventListener("lostpointercapture", stop);
}

// -- drawing ------------------------------------------------------------------------------
function setupDrawing() {
  const c = $("#draw-canvas");
  const g = c.getContext("2d");
  const clear = () => { g.fillStyle = "#000"; g.fillRect(0, 0, c.width, c.height); };
  clear();
  let down = false, last = null;
  const at = (e) => { const r = c.getBoundingClientRect(); return [(e.clientX - r.left) * c.width / r.width, (e.clientY - r.top) * c.height / r.height]; };
  c.addEventListener("pointerdown", (e) => { down = true; last = at(e); c.setPointerCapture(e.pointerId); });
  c.addEventListener("pointermove", (e) => {
    if (!down) return;
    const p = at(e);
    g.strokeStyle = "#fff"; g.lineWidth = 22; g.lineCap = "round";
    g.beginPath(); g.moveTo(...last); g.lineTo(...p); g.stroke();
    last = p;
  });
  c.addEventListener("pointerup", () => { down = false; });
  $("#clear-drawing").addEventListener("click", clear);
  const blob = () => new Promise((ok) => c.toBlob(ok, "image/png"));
  $("#add-drawing").addEventListener("click", async () => {
    const name = $("#draw-class").value;
    if (!name) { say("Add a class first.", true); return; }
    await uploadFiles(name, [new File([await blob()], "drawing.png", { type: "image/png" })], "drawing");
    clear();
  });
  $("#preview-drawing").addEventListener("click", async () => preview(await blob()));
}

// -- training -----------------------------------------------------------------------------
async function train() {
  const settings = { model: $("#model").value };
  if ($("#epochs").value) settings.epochs = Number($("#epochs").value);
  try {
    await api("/api/train", { method: "POST", json: settings });
    $("#train").disabled = true;
    $("#progress-box").hidden = false;
    say("Training...");
    poll();
  } catch (e) { say(e.message, true); }
}

function poll() {
  clearTimeout(polling);
  polling = setTimeout(async () => {
    let state;
    try { state = (await api("/api/project")).training; } catch (e) { say(e.message, true); return; }
    if (state.status === "running") {
      const p = $("#progress");
      if (state.total) { p.max = state.total; p.value = state.done; } else p.removeAttribute("value");
      $("#stage").textContent = state.stage || "";
      poll();
      return;
    }
    $("#train").disabled = false;
    $("#progress-box").hidden = true;
    if (state.status === "failed") say(state.message, true);
    if (state.status === "done") { say(`Trained in ${state.seconds} s.`); showResult(state.result); }
  }, 400);
}

const pct = (x) => `${(100 * x).toFixed(x > 0.995 && x < 1 ? 1 : 0)}%`;

function showResult(r) {
  $("#results").hidden = false;
  $("#accuracy").textContent = `${pct(r.accuracy)} right on images the model never saw`;
  $("#accuracy-detail").textContent =
    `95% interval ${pct(r.accuracy_ci[0])} to ${pct(r.accuracy_ci[1])}: ${r.n_wrong} wrong of ${r.n_test} test images` +
    (r.split && r.split.by_capture_session ? ", from capture sessions kept apart from training" : "") +
    ` (model ${r.model}, ${r.n_train} training images).`;
  const rs = $("#random-split");
  if (r.random_split && r.random_split.why) { rs.hidden = false; rs.textContent = r.random_split.why; }
  else rs.hidden = true;
  $("#card-link").href = r.card;
  const t = $("#confusion");
  t.replaceChildren();
  const head = t.insertRow();
  head.append(Object.assign(document.createElement("th"), { textContent: "true \\ predicted" }));
  for (const c of r.classes) head.append(Object.assign(document.createElement("th"), { textContent: c }));
  r.confusion_matrix.forEach((row, i) => {
    const tr = t.insertRow();
    tr.append(Object.assign(document.createElement("th"), { textContent: r.classes[i] }));
    row.forEach((v, j) => {
      const td = tr.insertCell();
      td.textContent = v;
      if (i === j) td.className = "diag"; else if (v > 0) td.className = "off";
    });
  });
  const m = $("#misread");
  m.replaceChildren();
  if (!r.misread.length) m.textContent = "None: every test image was read right.";
  for (const w of r.misread) {
    const d = document.createElement("div");
    d.className = "misread";
    const img = document.createElement("img");
    img.src = imageUrl(w.file); img.alt = w.file;
    const cap = document.createElement("span");
    cap.textContent = `${w.true} read as ${w.pred} (${pct(w.confidence)})`;
    d.append(img, cap);
    m.append(d);
  }
}

// -- preview ------------------------------------------------------------------------------
async function preview(blob) {
  try {
    const r = await api("/api/predict", { method: "POST", body: blob });
    const label = $("#preview-label");
    label.className = "big" + (r.not_sure ? " not-sure" : "");
    label.textContent = r.none_of_these ? "none of these" : r.not_sure ? `not sure (maybe ${r.label})` : r.label;
    const bars = $("#preview-bars");
    bars.replaceChildren();
    for (const [name, p] of r.bars) {
      const row = document.createElement("div");
      row.className = "bar";
      const track = document.createElement("div");
      track.className = "track";
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = `${(100 * p).toFixed(1)}%`;
      track.append(fill);
      row.append(Object.assign(document.createElement("span"), { textContent: name }), track,
                 Object.assign(document.createElement("span"), { textContent: pct(p) }));
      bars.append(row);
    }
    if (r.unlike_training) say(`This image is unlike the training images: ${r.unlike_training}`, true);
    return r;
  } catch (e) { say(e.message, true); return null; }
}

async function toggleLivePreview() {
  if (livePreview) { clearInterval(livePreview); livePreview = null; $("#preview-camera").textContent = "Live camera"; return; }
  try { await startCamera(); } catch (e) { say(e.message, true); return; }
  $("#preview-camera").textContent = "Stop live preview";
  let busy = false;
  livePreview = setInterval(async () => {
    if (busy) return;
    busy = true;
    const r = await preview(await frameBlob());
    busy = false;
    if (!r && livePreview) toggleLivePreview();
  }, 300);
}

// -- start --------------------------------------------------------------------------------
$("#class-form").addEventListener("submit", addClass);
$("#builtin").addEventListener("click", async () => {
  say("Adding 30 drawings of each digit...");
  try { const r = await api("/api/builtin", { method: "POST", json: { name: "digits", per_class: 30 } }); say(`Added ${r.added} digits.`); await refresh(); }
  catch (e) { say(e.message, true); }
});
$("#start-camera").addEventListener("click", () => startCamera().catch((e) => say(e.message, true)));
$("#train").addEventListener("click", train);
$("#preview-camera").addEventListener("click", toggleLivePreview);
$("#preview-file").addEventListener("change", (e) => { if (e.target.files[0]) preview(e.target.files[0]); e.target.value = ""; });
setupDrawing();
refresh().then(() => { if (project.training && project.training.status === "running") { $("#train").disabled = true; $("#progress-box").hidden = false; poll(); } })
  .catch((e) => say(e.message, true));
