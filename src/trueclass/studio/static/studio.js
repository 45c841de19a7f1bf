// trueclass studio: the page over the studio's JSON API. Plain JavaScript, nothing fetched
// from elsewhere. Every request that changes the project carries the page's token.
"use strict";

const TOKEN = document.querySelector('meta[name="trueclass-token"]').content;
const MAX_FILE_BYTES = Number(document.querySelector('meta[name="trueclass-max-file-bytes"]').content);
// how many digits a class "Start from digits" adds (studio._app.DIGITS_PER_CLASS says why)
const DIGITS_PER_CLASS = Number(document.querySelector('meta[name="trueclass-digits-per-class"]').content);
// what one request may carry: a larger upload is sent in parts (a class's 519 photos at once were refused whole)
const MAX_FILES = Number(document.querySelector('meta[name="trueclass-max-files"]').content);
const MAX_REQUEST_BYTES = Number(document.querySelector('meta[name="trueclass-max-request-bytes"]').content);
const $ = (sel) => document.querySelector(sel);
let project = null;
let cameraStream = null;
let livePreview = null;
let stale = "";  // why the result shown is of classes that have changed since, or ""
let polling = null;
let training = false;
// each message is shown next to the control that caused it: a slot ("classes", "camera",
// "draw", "train", "preview", "page", or "class:NAME" in a class's card, kept across redraws)
const classMessages = new Map();

function slotOf(name) {
  for (const el of document.querySelectorAll(".message[data-slot]")) if (el.dataset.slot === name) return el;
  return null;
}

function say(text, isError = false, slot = "page") {
  if (slot.startsWith("class:")) {
    if (text) classMessages.set(slot, { text, isError }); else classMessages.delete(slot);
  }
  const m = slotOf(slot) || slotOf("page");
  m.textContent = text || "";
  m.className = "message" + (isError ? " error" : "");
  if (text && m.getBoundingClientRect && typeof m.scrollIntoView === "function") {
    const r = m.getBoundingClientRect();
    if (r.top < 0 || r.bottom > window.innerHeight) m.scrollIntoView({ block: "nearest" });
  }
}

async function api(path, { method = "GET", json, body } = {}) {
  const opts = { method, headers: {} };
  if (method !== "GET") opts.headers["X-Trueclass-Token"] = TOKEN;
  if (json !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(json); }
  else if (body !== undefined) opts.body = body;
  let res;
  try { res = await fetch(path, opts); }
  catch (e) { throw new Error("The studio is not answering: was it stopped? Start it again (trueclass studio) and reload this page."); }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `The studio answered ${res.status}.`);
  return data;
}

function imageUrl(file) { return "/api/image?file=" + encodeURIComponent(file); }

// -- classes ------------------------------------------------------------------------------
async function refresh() {
  project = await api("/api/project");
  // a refusal or failure under Train was about the project before this change: it goes
  if (slotOf("train").classList.contains("error")) say("", false, "train");
  $("#project-root").textContent = project.root;
  const running = !!(project.training && project.training.status === "running");
  setTraining(running);
  // a training started elsewhere (another tab, a student's page) is followed here too: its
  // progress, then its result (this page was left with Train disabled and no end)
  if (running) { $("#progress-box").hidden = false; poll(); }
  const t = project.training || {};
  // a stopped training to go on with (also one a studio closed earlier left): said with its button
  showGoOn(!!t.resumable);
  if (t.status === "failed" && t.resumable) say(t.message, false, "train");  // kept work, not a mistake
  renderClasses();
  // a result of classes that have changed since is greyed, and says so (the server says which)
  const r = (t.status === "done" ? t.result : null) || project.last_result;
  stale = r && r.stale ? r.stale : "";
  if (r) showResult(r); else $("#results").hidden = true;
  greyResult();
}

// a training the page's Stop left can go on from its last finished epoch (the server keeps it
// until the next Train)
function showGoOn(on) { $("#resume-training").hidden = !on; }

function setTraining(on) {
  training = on;
  $("#train").disabled = on;
  if (on) showGoOn(false);
  for (const b of document.querySelectorAll(".class-card .delete, .class-card .rename, .deleted-class button")) b.disabled = on;
  for (const b of document.querySelectorAll("#label-issues button, #odd-images button")) b.disabled = on || !!stale;  // a stale result's stay as shown
  greyResult();
}

// the result on screen is greyed, with the reason, while a new training runs or once its
// classes have changed
function greyResult() {
  const why = training ? "The previous training's result, until this one ends:" : stale;
  $("#results").classList.toggle("previous", !!why);
  $("#previous-note").textContent = why;
  $("#previous-note").hidden = !why;
}

const MODEL_KEY = "trueclass-studio-model";  // localStorage: the model chosen last on this page

async function loadModels() {
  const select = $("#model");
  const { models } = await api("/api/models");
  select.replaceChildren();
  for (const m of models) {
    const opt = document.createElement("option");
    opt.value = m.name;
    opt.textContent = m.name;  // the description goes below: a closed list cuts long text
    opt.dataset.about = m.description;
    select.append(opt);
  }
  // the model chosen last time on this studio's page stays chosen (a reload used to put it
  // back to auto without a word), and Advanced opens to show it
  let kept = null;
  try { kept = localStorage.getItem(MODEL_KEY); } catch (e) { /* storage off: auto */ }
  if (kept && [...select.options].some((o) => o.value === kept)) {
    select.value = kept;
    if (kept !== "auto") $("#advanced").open = true;
  }
  const about = () => { $("#model-about").textContent = select.selectedOptions[0]?.dataset.about || ""; };
  select.addEventListener("change", () => {
    about();
    try { localStorage.setItem(MODEL_KEY, select.value); } catch (e) { /* storage off */ }
  });
  about();
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
    count.textContent = `${c.count} image${c.count === 1 ? "" : "s"}, ${c.sessions} session${c.sessions === 1 ? "" : "s"}` +
      // the split tests on whole sessions the model never saw: one session cannot be split
      (c.count && c.sessions < 2 ? ": add a second batch to test on" : "");
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
    rename.disabled = training;
    const del = document.createElement("button");
    del.type = "button"; del.className = "danger delete"; del.textContent = "Delete";
    del.addEventListener("click", () => deleteClass(c.name, c.count));
    del.disabled = training;
    if (training) del.title = rename.title = "Not while a model trains on these images.";
    tools.append(upload, rec, rename, del);
    const msg = document.createElement("p");
    msg.className = "message"; msg.dataset.slot = `class:${c.name}`; msg.setAttribute("role", "status");
    const kept = classMessages.get(msg.dataset.slot);
    if (kept) { msg.textContent = kept.text; if (kept.isError) msg.classList.add("error"); }
    const grid = document.createElement("div");
    grid.className = "grid";
    for (const f of c.files.slice(-24)) {
      const img = document.createElement("img");
      img.src = imageUrl(f); img.alt = c.name; img.loading = "lazy";
      grid.append(img);
    }
    card.append(title, count, tools, msg, grid);
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
  // classes deleted lately, each with the way back (their images wait in the project's trash),
  // above the cards, where the sentence of a delete just made is
  const deleted = document.createDocumentFragment();
  for (const d of project.deleted_classes || []) {
    const row = document.createElement("p");
    row.className = "hint deleted-class"; row.dataset.id = d.id;
    row.textContent = `Deleted: '${d.name}' (${d.images} image${d.images === 1 ? "" : "s"}) `;
    const back = Object.assign(document.createElement("button"), { type: "button", className: "secondary restore", textContent: "Restore" });
    back.disabled = training;
    back.addEventListener("click", () => restoreClass(d));
    row.append(back);
    deleted.append(row);
  }
  box.prepend(deleted);
}

async function restoreClass(d) {
  try { await api("/api/classes/restore", { method: "POST", json: { id: d.id } }); say(`Restored '${d.name}'.`, false, "classes"); await refresh(); }
  catch (e) { say(e.message, true, "classes"); }
}

async function addClass(ev) {
  ev.preventDefault();
  const name = $("#new-class").value.trim();
  if (!name) { say("Type a class name first.", true, "classes"); return; }
  try {
    await api("/api/classes", { method: "POST", json: { name } });
    $("#new-class").value = "";
    say(`Class '${name}' added.`, false, "classes");
    await refresh();
  } catch (e) { say(e.message, true, "classes"); }
}

async function renameClass(old) {
  const name = prompt(`New name for '${old}':`, old);
  if (!name || name === old) return;
  try { await api("/api/classes/rename", { method: "POST", json: { old, new: name } }); await refresh(); say(`Renamed '${old}' to '${name}'.`, false, `class:${name}`); }  // once its card is drawn
  catch (e) { say(e.message, true, `class:${old}`); }
}

async function deleteClass(name, count) {
  if (!confirm(`Delete the class '${name}' and its ${count} images? They are kept in the project's .trueclass/trash folder.`)) return;
  try { await api("/api/classes/delete", { method: "POST", json: { name } }); say(`Deleted '${name}'.`, false, "classes"); await refresh(); }
  catch (e) { say(e.message, true, `class:${name}`); }
}

async function uploadFiles(name, files, kind, slot = `class:${name}`) {
  if (!files || !files.length) return;
  // a file the server would refuse for its size is named here and not sent: one such file
  // made the whole request too large, and nothing of the upload was kept
  // in MB with as many decimals as tell the size from the limit (studio._project.megabytes)
  const mb = (n) => {
    for (let d = 0; d < 4; d++) {
      const a = (n / 1024 ** 2).toFixed(d), b = (MAX_FILE_BYTES / 1024 ** 2).toFixed(d);
      if (a !== b) return `is ${a} MB; an image may be at most ${b} MB`;
    }
    return `is ${n.toLocaleString("en")} bytes; an image may be at most ${MAX_FILE_BYTES.toLocaleString("en")} bytes`;
  };
  const big = [...files].filter((f) => f.size > MAX_FILE_BYTES);
  const refusedHere = big.map((f) => `${f.name || "an image"} ${mb(f.size)}.`);
  const sent = [...files].filter((f) => f.size <= MAX_FILE_BYTES);
  if (!sent.length) { say("Refused: " + refusedHere.join(" "), true, slot); return; }
  // in parts the server takes (files and bytes per request), one after another
  const parts = [];
  let part = [], bytes = 0;
  for (const f of sent) {
    if (part.length && (part.length >= MAX_FILES || bytes + f.size > MAX_REQUEST_BYTES / 2)) { parts.push(part); part = []; bytes = 0; }
    part.push(f); bytes += f.size;
  }
  parts.push(part);
  const many = (n) => `${n} image${n === 1 ? "" : "s"}`;
  let added = 0, done = 0, session = null;
  const refused = refusedHere.slice();
  const same = [];
  try {
    for (const p of parts) {
      say(`Adding ${many(sent.length)} to '${name}'...` + (parts.length > 1 ? ` (${done} sent)` : ""), false, slot);
      const form = new FormData();
      form.append("class", name);
      form.append("kind", kind);
      // one upload is one capture session, however many parts carry it (the split keeps a session on one side)
      if (session && added) form.append("session", session);
      for (const f of p) form.append("files", f, f.name || "image.png");
      const r = await api("/api/images", { method: "POST", body: form });
      if (r.added.length) session = r.session;
      added += r.added.length; done += p.length;
      refused.push(...r.refused.map((x) => x.reason));
      same.push(...(r.already || []));
    }
  } catch (e) {
    say((added ? `Added ${many(added)} to '${name}'; ${many(sent.length - done)} not sent: ` : "") + e.message
        + (refused.length ? " Refused: " + refused.join(" ") : ""), true, slot);
    await refresh().catch(() => {});
    return;
  }
  let text = `Added ${many(added)} to '${name}'.`;
  // the same file again (two students, or one twice): named with where it already is, a clash of classes shows
  if (same.length) text += ` ${many(same.length)} ${same.length === 1 ? "was" : "were"} in the project already and not added again (${same.slice(0, 3).map((x) => `${x.file} is ${x.as}`).join(", ")}${same.length > 3 ? ", ..." : ""}).`;
  if (refused.length) text += " Refused: " + refused.join(" ");
  say(text, added === 0, slot);  // red only where nothing was added
  await refresh().catch((e) => say(e.message, true, slot));
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

function frameBlob(v = $("#camera"), size = 224) {
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
    try { await startCamera(); } catch (err) { holding = false; say(err.message, true, `class:${name}`); return; }
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
    if (!name) { say("Add a class first.", true, "draw"); return; }
    await uploadFiles(name, [new File([await blob()], "drawing.png", { type: "image/png" })], "drawing", "draw");
    clear();
  });
  // the server turns a drawing into the training images' form (the digits: 8x8 block counts)
  $("#preview-drawing").addEventListener("click", async () => preview(await blob(), "drawing", "draw"));
}

// -- training -----------------------------------------------------------------------------
async function train() {
  const settings = { model: $("#model").value };
  if ($("#epochs").value) settings.epochs = Number($("#epochs").value);
  try {
    await api("/api/train", { method: "POST", json: settings });
    started("Training...");
  } catch (e) {
    await refresh().catch(() => {});  // one already running (another tab's): follow it
    say(e.message, true, "train");
  }
}

function started(words) {
  setTraining(true);
  $("#progress-box").hidden = false;
  say(words, false, "train");
  poll();
}

async function goOn() {
  try {
    await api("/api/train/resume", { method: "POST", json: {} });
    started("Going on with the stopped training...");
  } catch (e) { say(e.message, true, "train"); }
}

function poll() {
  clearTimeout(polling);
  polling = setTimeout(async () => {
    let state;
    try { state = (await api("/api/project")).training; }
    catch (e) { $("#progress-box").hidden = true; say(e.message, true, "train"); return; }  // no frozen bar under it
    if (state.status === "running") {
      const p = $("#progress");
      if (state.total) { p.max = state.total; p.value = state.done; } else p.removeAttribute("value");
      $("#stage").textContent = state.stage || "";
      poll();
      return;
    }
    if (state.status === "done") stale = (state.result && state.result.stale) || "";
    setTraining(false);
    $("#progress-box").hidden = true;
    // a stopped or failed training leaves the last result on screen: its model is still the one Preview uses
    if (state.status === "failed") say(state.message, !state.resumable, "train");  // a Stop's kept work is no error
    showGoOn(state.status === "failed" && !!state.resumable);
    // the whole wait: training, its checks and the comparison on a random split (the card times the run alone)
    if (state.status === "done") { say(`Done in ${state.seconds} s.`, false, "train"); if (state.result) showResult(state.result); }
  }, 400);
}

// accuracies to a tenth of a percent, as the card and the command line give them (99% beside
// "1 wrong of 69" read as a mistake); a confidence in whole percents, said as one
const pct = (x) => `${(100 * x).toFixed(1)}%`;
// floored to a tenth, as the review's threshold is rounded up: no image below it reads as sure as it
const sure = (x) => `${(Math.floor(Math.round(1e6 * x) / 1000) / 10).toFixed(1)}% sure`;

function showResult(r) {
  $("#results").hidden = false;
  $("#accuracy").textContent = `${pct(r.accuracy)} right on images the model never saw`;
  $("#accuracy-detail").textContent =
    `95% interval ${pct(r.accuracy_ci[0])} to ${pct(r.accuracy_ci[1])}: ${r.n_wrong} wrong of ${r.n_test} test images` +
    (r.split && r.split.by_capture_session ? ", from capture sessions kept apart from training" : "") +
    ` (model ${r.model}, ${r.n_train} training images).`;
  const vd = $("#verdict");  // said where it is not "fine": over- or under-fitting, below its baseline
  vd.hidden = !r.verdict; vd.textContent = r.verdict || "";
  const rs = $("#random-split");
  if (r.random_split && r.random_split.why) { rs.hidden = false; rs.textContent = r.random_split.why; }
  else rs.hidden = true;
  const ws = $("#run-warnings");
  ws.replaceChildren(...(r.warnings || []).map((w) => Object.assign(document.createElement("li"), { textContent: w })));
  ws.hidden = !(r.warnings || []).length;
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
  if (!r.misread.length) {
    m.textContent = r.n_wrong ? "Their images are no longer in the project." : "None: every test image was read right.";
  }
  else if (r.misread_capped) {  // the page holds the surest mistakes; the card holds them all
    m.append(Object.assign(document.createElement("p"), {
      className: "hint", textContent: `The ${r.misread.length} the model was surest of, of ${r.n_wrong}; the evidence card shows every one.` }));
  }
  for (const w of r.misread) m.append(thumb(w.file, `${w.true}, read as ${w.pred} (${sure(w.confidence)})`));
  // the test images below the review threshold, least sure first: the cases to hand to a person
  $("#review-text").textContent = r.review_text || "";
  const rv = $("#review");
  rv.replaceChildren();
  if (r.review_capped) rv.append(Object.assign(document.createElement("p"), {
    className: "hint", textContent: `The ${r.review.length} it was least sure of; predictions.csv in the run marks every one.` }));
  for (const w of r.review || []) rv.append(thumb(w.file, `${w.true}, read as ${w.pred} (${sure(w.confidence)})`));
  // training images whose label the audit doubts, most likely wrong first
  const lt = $("#label-issues-text");
  lt.textContent = r.label_issues_plain || "Not run for this training.";
  lt.title = r.label_issues_text ? `As the command line says it: ${r.label_issues_text}.` : "";
  const li = $("#label-issues");
  li.replaceChildren();
  for (const w of r.label_issues || []) {
    const t = thumb(w.file, `filed as ${w.given}, looks like ${w.suggested}`);
    // put it right from here: file it under the class it looks like, or take it out (kept in the trash)
    const move = Object.assign(document.createElement("button"), {
      className: "secondary small", textContent: `Move to ${w.suggested}`, title: `File this image under '${w.suggested}'` });
    move.onclick = () => fixImage("/api/images/move", { file: w.file, to: w.suggested }, `Moved it to '${w.suggested}'.`);
    const remove = Object.assign(document.createElement("button"), {
      className: "danger small", textContent: "Remove", title: "Take this image out of the project (kept in .trueclass/trash)" });
    remove.onclick = () => fixImage("/api/images/remove", { file: w.file }, "Removed it; its file is kept in the project's trash.");
    for (const b of [move, remove]) b.disabled = training || !!stale;
    t.append(move, remove);
    li.append(t);
  }
  $("#audit-text").textContent = r.audit_text || "The audit was not run for this training.";
  const odd = $("#odd-images");
  odd.replaceChildren();
  for (const w of r.odd_images || []) {
    const t = thumb(w.file, `odd: ${w.reasons.join(", ")}`);
    // a blank or blurred frame is taken out from here (kept in the trash)
    const remove = Object.assign(document.createElement("button"), {
      className: "danger small", textContent: "Remove", title: "Take this image out of the project (kept in .trueclass/trash)" });
    remove.onclick = () => fixImage("/api/images/remove", { file: w.file }, "Removed it; its file is kept in the project's trash.", "odd");
    remove.disabled = training || !!stale;
    t.append(remove);
    odd.append(t);
  }
}

// a label flag put right; the next training's audit looks again
async function fixImage(path, json, done, slot = "labels") {
  try {
    const r = await api(path, { method: "POST", json });
    say(done + " Train again to see the change. ", false, slot);
    // one click undoes it: a move goes back, a removed image comes back from the trash
    const undo = r.to ? { path: "/api/images/move", json: { file: r.file, to: r.from }, done: `Moved it back to '${r.from}'.` }
                      : { path: "/api/images/unremove", json: { kept_in: r.kept_in }, done: "Put it back." };
    const b = Object.assign(document.createElement("button"), { type: "button", className: "secondary undo", textContent: "Undo" });
    b.onclick = async () => {
      try { await api(undo.path, { method: "POST", json: undo.json }); say(undo.done, false, slot); await refresh(); }
      catch (e) { say(e.message, true, slot); }
    };
    slotOf(slot).append(b);
    await refresh();
  } catch (e) { say(e.message, true, slot); }
}

// one of the project's images with a caption under it (misread, label to check, odd)
function thumb(file, caption) {
  const d = document.createElement("div");
  d.className = "misread";
  const img = document.createElement("img");
  img.src = imageUrl(file); img.alt = file;
  const cap = document.createElement("span");
  cap.textContent = caption;
  d.append(img, cap);
  return d;
}

// -- preview ------------------------------------------------------------------------------
async function preview(blob, kind = "image", slot = "preview") {
  try {
    const r = await api("/api/predict" + (kind === "drawing" ? "?kind=drawing" : ""), { method: "POST", body: blob });
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
    const unlike = r.unlike_training ? `This image is unlike the training images: ${r.unlike_training}` : "";
    // beside the button that asked: what it was read as, and why it is not sure when it is unlike the training images
    say(slot === "preview" ? unlike : `Read as ${label.textContent}: see Preview.${unlike ? " " + unlike : ""}`,
        !!unlike, slot);
    if (slot !== "preview") say("", false, "preview");  // the panel's note was about the image before
    return r;
  } catch (e) {
    // no answer: the panel must not keep the last image's label and bars under this message
    $("#preview-label").textContent = ""; $("#preview-bars").replaceChildren();
    say(e.message, true, slot);
    if (slot !== "preview") say("", false, "preview");  // nor an older image's note
    return null;
  }
}

// The live preview shows and reads its own <video>, in the Preview panel, on the same
// stream: the one at the top of the page is paused by the browser once scrolled away, and
// a paused video gives the same (or a black) frame for ever.
async function toggleLivePreview() {
  const v = $("#preview-video");
  if (livePreview) {
    clearInterval(livePreview); livePreview = null;
    $("#preview-camera").textContent = "Live camera";
    v.pause(); v.hidden = true;
    return;
  }
  try {
    await startCamera();
    v.srcObject = cameraStream;
    v.hidden = false;
    await v.play();
  } catch (e) { say(e.message, true, "preview"); return; }
  $("#preview-camera").textContent = "Stop live preview";
  let busy = false;
  livePreview = setInterval(async () => {
    if (busy) return;
    busy = true;
    if (v.paused) await v.play().catch(() => {});
    const r = await preview(await frameBlob(v));
    busy = false;
    if (!r && livePreview) toggleLivePreview();
  }, 300);
}

$("#stop-training").addEventListener("click", async () => {
  try { await api("/api/train/stop", { method: "POST", json: {} }); $("#stage").textContent = "stopping at the next step..."; }
  catch (e) { say(e.message, true, "train"); }
});

// -- start --------------------------------------------------------------------------------
$("#class-form").addEventListener("submit", addClass);
$("#builtin").addEventListener("click", async () => {
  const have = project ? project.classes.map((c) => c.name) : [];
  const json = { name: "digits", per_class: DIGITS_PER_CLASS };
  if (have.length) {
    // digits go into the classes of their names (0 to 9) where the project has them: say so
    const same = have.filter((n) => /^[0-9]$/.test(n));
    const listed = have.slice(0, 6).join(", ") + (have.length > 6 ? ` and ${have.length - 6} more` : "");
    const what = same.length
      ? `Add the handwritten digits into its class${same.length === 1 ? "" : "es"} ${same.join(", ")}` +
        (same.length < 10 ? " and the other digits as new classes?" : "?")
      : "Add ten classes of handwritten digits, 0 to 9, beside them?";
    if (!confirm(`This project already has ${have.length} class${have.length === 1 ? "" : "es"} (${listed}). ${what}`)) {
      say("The digits were not added: start them in an empty project folder.", false, "classes");
      return;
    }
    json.beside_classes = true;
  }
  say(`Adding ${DIGITS_PER_CLASS} drawings of each digit (a few seconds)...`, false, "classes");
  try { const r = await api("/api/builtin", { method: "POST", json }); say(r.message, false, "classes"); await refresh(); }
  catch (e) { say(e.message, true, "classes"); }
});
$("#start-camera").addEventListener("click", () => startCamera().catch((e) => say(e.message, true, "camera")));
$("#train").addEventListener("click", train);
$("#resume-training").addEventListener("click", goOn);
$("#preview-camera").addEventListener("click", toggleLivePreview);
$("#preview-file").addEventListener("change", (e) => { if (e.target.files[0]) preview(e.target.files[0]); e.target.value = ""; });
setupDrawing();
loadModels().catch((e) => say(e.message, true, "train"));
refresh().catch((e) => say(e.message, true));  // a training already running is followed from there
