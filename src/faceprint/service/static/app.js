// faceprint's web page: identify faces in photos or a webcam snapshot, enrol them, manage the people and their faces.
// Plain JavaScript, no build step, nothing fetched from other hosts. The API key lives in this tab only.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const PEOPLE_PAGE = 50;   // people per page of the list
const FACES_PAGE = 12;    // faces per page under a person
const LABEL_FONT = 13;    // px, on screen: labels stay readable whatever the photo's size
const CLUSTERS_PAGE = 20; // clusters per page of the Clusters tab
const CLUSTER_FACES = 24; // faces shown per cluster before "More faces"
const state = { multi: false, stream: null, peopleOffset: 0, clustersOffset: 0 };

function key() { return $("#key").value.trim(); }
function gallery() { return $("#gallery").value.trim(); }
function base() { return state.multi ? `/v1/galleries/${encodeURIComponent(gallery())}` : "/v1"; }

function status(text, isError = false) {
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function api(method, path, body) {
  const headers = {};
  if (key()) headers["Authorization"] = `Bearer ${key()}`;
  if (body && !(body instanceof FormData)) { headers["Content-Type"] = "application/json"; body = JSON.stringify(body); }
  const resp = await fetch(path, { method, headers, body });
  const type = resp.headers.get("content-type") || "";
  const data = type.includes("json") ? await resp.json() : await resp.blob();
  if (!resp.ok) {
    const err = new Error(data && data.error ? data.error.message : `HTTP ${resp.status}`);
    err.code = data && data.error ? data.error.code : "http_error";
    throw err;
  }
  return data;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function pct(x) { return x == null ? "" : `${Math.round(100 * x)}%`; }
function num(x) { return x == null ? "–" : x.toFixed(3); }

function label(face) {
  if (!face.unknown) return `${face.person} ${pct(face.confidence)}`;
  return face.closest ? `UNKNOWN (closest: ${face.closest}, ${pct(face.confidence)})` : "UNKNOWN";
}

// -- photos -> identify ---------------------------------------------------------------------------------------

function loadImage(blob) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("this file is not an image the browser can show"));
    img.src = URL.createObjectURL(blob);
  });
}

// Several photos at once: the previous results go, each photo gets its own card, one after the other.
async function identifyAll(files) {
  if (state.multi && !gallery()) { status("Type a gallery name first.", true); return; }
  $("#results").innerHTML = "";
  status(files.length > 1 ? `Looking for faces in ${files.length} photos…` : "Looking for faces…");
  let faces = 0, failed = 0;
  for (const { blob, name } of files) {
    const card = el("article", "result");
    $("#results").append(card);
    const n = await identify(card, blob, name);
    if (n == null) failed += 1; else faces += n;
  }
  if (files.length === 1 && failed) return;  // identify said why
  const what = faces ? `${faces} face(s) found` : "No face found";
  status(`${what}${files.length > 1 ? ` in ${files.length} photos` : " in this photo"}${failed ? `; ${failed} could not be read` : ""}.`, failed > 0);
}

// One photo in its card: returns the number of faces, or null when it failed (the card is then removed and the
// status says why, so no earlier photo stays on screen under an error).
async function identify(card, blob, name) {
  card.innerHTML = "";
  card.dataset.name = name;
  try {
    const img = await loadImage(blob);
    const form = new FormData();
    form.append("file", blob, name);
    let result;
    try {
      result = await api("POST", `${base()}/identify`, form);
    } catch (err) {
      if (err.code !== "unknown_gallery") throw err;
      // a new gallery: nobody to compare with yet, so every face is UNKNOWN (and can be enrolled to create it)
      const found = await api("POST", "/v1/detect", form);
      result = { faces: found.faces.map((f) => ({ box: f.box, person: null, unknown: true, closest: null, confidence: null, candidates: [] })) };
    }
    render(card, { blob, name, img, result });
    return result.faces.length;
  } catch (err) {
    card.remove();
    status(`${name}: ${err.message}`, true);
    return null;
  }
}

function render(card, photo) {
  const { img, result, name } = photo;
  card.innerHTML = "";
  card.append(el("h3", "photo-name", name));
  const stage = el("div", "stage");
  const canvas = el("canvas");
  stage.append(canvas);
  card.append(stage);
  const list = el("ol", "faces");
  card.append(list);
  if (result.threshold != null) {
    const about = el("details", "meaning");
    about.append(el("summary", null, "What the percentage means"));
    about.append(el("p", null, result.confidence_meaning || ""));
    about.append(el("p", "point", `Threshold ${num(result.threshold)} on the ${result.threshold_applies_to}` +
      (result.expected_stranger_rate != null ? `; expected to name ${(100 * result.expected_stranger_rate).toFixed(1)}% of strangers at this gallery's size.` : ".")));
    card.append(about);
  }
  requestAnimationFrame(() => draw(canvas, img, result.faces));  // once the card has its width
  result.faces.forEach((f, i) => list.append(faceItem(card, photo, f, i)));
  card.redraw = () => draw(canvas, img, result.faces);
}

// The photo scaled to the card (small photos grow, large ones shrink); labels in screen pixels, placed so that
// none overlaps another or leaves the picture; when they cannot all fit, the boxes carry their numbers only.
function draw(canvas, img, faces) {
  const stage = canvas.parentElement;
  const avail = Math.max(120, stage.clientWidth);
  const maxH = Math.max(240, 0.75 * window.innerHeight);
  const scale = Math.min(avail / img.naturalWidth, maxH / img.naturalHeight, 4);
  const w = Math.round(img.naturalWidth * scale), h = Math.round(img.naturalHeight * scale);
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  canvas.style.width = `${w}px`; canvas.style.height = `${h}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const boxes = faces.map((f) => f.box.map((v) => v * scale));
  const texts = faces.map((f, i) => `${i + 1}. ${f.unknown ? "UNKNOWN" : `${f.person} ${pct(f.confidence)}`}`);
  let placed = place(ctx, boxes, texts, w, h);
  if (!placed) placed = place(ctx, boxes, faces.map((f, i) => `${i + 1}`), w, h) || [];
  ctx.clearRect(0, 0, w, h);
  ctx.drawImage(img, 0, 0, w, h);
  boxes.forEach(([x1, y1, x2, y2], i) => {
    ctx.lineWidth = 2; ctx.strokeStyle = faces[i].unknown ? "#d0342c" : "#1a8f4a";
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  });
  ctx.font = `600 ${LABEL_FONT}px system-ui, sans-serif`;
  placed.forEach((p, i) => {
    ctx.fillStyle = faces[i].unknown ? "#d0342c" : "#1a8f4a";
    ctx.fillRect(p.x, p.y, p.w, p.h);
    ctx.fillStyle = "#fff";
    ctx.fillText(p.text, p.x + 4, p.y + p.h - 5);
  });
  canvas.dataset.labels = JSON.stringify(placed.map(({ x, y, w: lw, h: lh, text }) => ({ x, y, w: lw, h: lh, text })));
  canvas.dataset.width = String(w); canvas.dataset.height = String(h);
}

function place(ctx, boxes, texts, w, h) {
  ctx.font = `600 ${LABEL_FONT}px system-ui, sans-serif`;
  const lh = LABEL_FONT + 8, placed = [];
  const hits = (r) => placed.some((p) => r.x < p.x + p.w && p.x < r.x + r.w && r.y < p.y + p.h && p.y < r.y + r.h);
  for (let i = 0; i < boxes.length; i++) {
    let text = texts[i];
    while (text.length > 2 && ctx.measureText(text).width + 8 > w) text = `${text.slice(0, -2)}…`;
    const lw = Math.min(w, Math.ceil(ctx.measureText(text).width) + 8);
    const [x1, y1, x2, y2] = boxes[i];
    const x = Math.max(0, Math.min(x1, w - lw));
    const tries = [y1 - lh, y2, y1, y2 - lh];  // above the box, below, inside at the top, inside at the bottom
    for (let y = 0; y + lh <= h; y += lh / 2) tries.push(y);  // then anywhere down the picture
    const spot = tries.map((y) => ({ x, y, w: lw, h: lh, text })).find((r) => r.y >= 0 && r.y + lh <= h && !hits(r));
    if (!spot) return null;
    placed.push(spot);
  }
  return placed;
}

function faceItem(card, photo, f, i) {
  const li = el("li", "face");
  li.append(el("span", `who ${f.unknown ? "unknown" : "known"}`, label(f)));
  if (f.distance != null) {
    li.append(el("div", "numbers", `distance ${num(f.distance)}${f.score != null ? `, score ${num(f.score)}` : ""}` +
      (photo.result.threshold != null ? ` (named at ${num(photo.result.threshold)} or less)` : "")));
  }
  if (f.candidates && f.candidates.length) {
    const cands = el("div", "candidates", "Candidates: ");
    f.candidates.forEach((c, j) => cands.append(`${j ? ", " : ""}${c.person} ${num(c.distance)} (${pct(c.confidence)})`));
    li.append(cands);
  }
  const form = el("form", "enrol");
  const input = el("input");
  input.placeholder = "enrol as (new or existing name)";
  input.setAttribute("list", "people-list");
  input.value = f.unknown ? "" : f.person;
  input.setAttribute("aria-label", `name for face ${i + 1}`);
  const btn = el("button", null, "Enrol");
  btn.type = "submit";
  form.append(input, btn);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); enrol(card, photo, f, input.value.trim()); });
  li.append(form);
  return li;
}

function cropFace(img, face) {
  // The face with a margin, so the server finds it again; JPEG at most 800 px a side.
  const [x1, y1, x2, y2] = face.box;
  const m = 0.4 * Math.max(x2 - x1, y2 - y1);
  const sx = Math.max(0, x1 - m), sy = Math.max(0, y1 - m);
  const sw = Math.min(img.naturalWidth, x2 + m) - sx, sh = Math.min(img.naturalHeight, y2 + m) - sy;
  const scale = Math.min(1, 800 / Math.max(sw, sh));
  const c = document.createElement("canvas");
  c.width = Math.round(sw * scale); c.height = Math.round(sh * scale);
  c.getContext("2d").drawImage(img, sx, sy, sw, sh, 0, 0, c.width, c.height);
  return new Promise((resolve) => c.toBlob(resolve, "image/jpeg", 0.92));
}

async function enrol(card, photo, face, name) {
  if (!name) { status("Type a name to enrol this face as.", true); return; }
  try {
    const form = new FormData();
    if (photo.result.faces.length > 1) form.append("files", await cropFace(photo.img, face), `face-of-${photo.name.replace(/\.[^.]*$/, "")}.jpg`);
    else form.append("files", photo.blob, photo.name);
    const rep = await api("POST", `${base()}/people/${encodeURIComponent(name)}/faces`, form);
    if (rep.enrolled.length) status(`Enrolled as ${rep.person}.`);
    else status(`Not enrolled: ${rep.skipped.map((s) => s.reason + (s.detail ? ` (${s.detail})` : "")).join(", ")}`, true);
    await refreshPeople();
    if (rep.enrolled.length) {  // the photo again: its faces as the gallery now names them
      await identify(card, photo.blob, photo.name);
      status(`Enrolled as ${rep.person}.`);
    }
  } catch (err) {
    status(err.message, true);
  }
}

// -- people ---------------------------------------------------------------------------------------------------

async function refreshPeople(more = false) {
  const list = $("#people");
  if (state.multi && !gallery()) { list.innerHTML = "<li>Choose a gallery.</li>"; $("#more-people").hidden = true; return; }
  if (!more) state.peopleOffset = 0;
  let page;
  try {
    const q = $("#people-search").value.trim();
    page = await api("GET", `${base()}/people?offset=${state.peopleOffset}&limit=${PEOPLE_PAGE}${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  } catch (err) {
    list.innerHTML = "";
    list.append(el("li", null, err.code === "unknown_gallery" ? "This gallery is empty: enrol someone to create it." : err.message));
    $("#more-people").hidden = true;
    $("#people-count").textContent = "";
    return;
  }
  if (!more) { list.innerHTML = ""; $("#people-list").innerHTML = ""; }
  if (!page.total) list.innerHTML = $("#people-search").value.trim() ? "<li>Nobody by that name.</li>" : "<li>Nobody enrolled yet.</li>";
  for (const p of page.people) {
    const opt = document.createElement("option"); opt.value = p.name; $("#people-list").append(opt);
    list.append(personItem(p));
  }
  state.peopleOffset = page.next_offset || 0;
  $("#more-people").hidden = page.next_offset == null;
  $("#people-count").textContent = page.total ? `(${page.total})` : "";
}

function personItem(p) {
  const li = el("li", "person");
  li.dataset.name = p.name;
  const head = el("div", "person-head");
  head.append(el("span", "person-name", p.name));
  const count = el("span", "face-count", `${p.faces} face${p.faces === 1 ? "" : "s"}`);
  const ren = el("button", "secondary small rename", "Rename");
  ren.addEventListener("click", () => rename(p.name));
  const del = el("button", "danger small remove", "Remove");
  del.addEventListener("click", () => remove(p.name));
  head.append(count, ren, del);
  const thumbs = el("div", "thumbs");
  const more = el("button", "secondary small more-faces", "More faces");
  more.hidden = true;
  li.append(head, thumbs, more);
  let offset = 0;
  const load = async () => {
    try {
      const page = await api("GET", `${base()}/people/${encodeURIComponent(p.name)}?offset=${offset}&limit=${FACES_PAGE}`);
      page.faces.forEach((f) => thumbs.append(faceThumb(p.name, f)));
      offset = page.next_offset || 0;
      more.hidden = page.next_offset == null;
      more.textContent = `More faces (${page.total - thumbs.children.length} more)`;
    } catch (err) { /* the list itself says what went wrong */ }
  };
  more.addEventListener("click", load);
  load();
  return li;
}

function faceThumb(name, f) {
  const box = el("figure", "thumb");
  const img = el("img");
  img.alt = `${name}, face ${f.id}`;
  img.title = f.source;
  api("GET", f.image).then((blob) => { img.src = URL.createObjectURL(blob); }).catch(() => {});
  const del = el("button", "delete-face", "×");
  del.type = "button";
  del.title = `Delete this face of ${name}`;
  del.setAttribute("aria-label", `delete face ${f.id} of ${name}`);
  del.addEventListener("click", async () => {
    if (!confirm(`Delete this face of ${name}?`)) return;
    try { await api("DELETE", `${base()}/faces/${f.id}`); status(`Deleted a face of ${name}.`); }
    catch (err) { status(err.message, true); }
    refreshPeople();
  });
  box.append(img, del);
  return box;
}

async function rename(name) {
  const to = (prompt(`Rename ${name} to:`, name) || "").trim();
  if (!to || to === name) return;
  try { await api("PATCH", `${base()}/people/${encodeURIComponent(name)}`, { name: to }); status(`Renamed ${name} to ${to}.`); }
  catch (err) { status(err.message, true); }
  refreshPeople();
}

async function remove(name) {
  if (!confirm(`Remove ${name} and all their faces?`)) return;
  try { const r = await api("DELETE", `${base()}/people/${encodeURIComponent(name)}`); status(`Removed ${name} (${r.faces} faces).`); }
  catch (err) { status(err.message, true); }
  refreshPeople();
}

// -- clusters -------------------------------------------------------------------------------------------------
// The gallery's stored clusters (faceprint cluster --gallery, or unknown faces of uploads on a server run with
// --cluster-unknown): a grid of faces per cluster, with name, merge, split, move and "not this person".

function clusterStatus(text, isError = false) {
  const e = $("#cluster-status");
  e.textContent = text;
  e.classList.toggle("error", isError);
}

function showTab(name) {
  document.querySelectorAll("#tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === name)));
  document.querySelectorAll("main > section").forEach((sec) => { sec.hidden = sec.dataset.tab !== name; });
  if (name === "clusters") refreshClusters();
  else refreshPeople();
}

function tickedClusters() {
  return [...document.querySelectorAll("#clusters .cluster-tick:checked")].map((c) => Number(c.value));
}

function updateMerge() { $("#merge").disabled = tickedClusters().length < 2; }

async function refreshClusters(more = false) {
  const list = $("#clusters");
  if (state.multi && !gallery()) { list.innerHTML = "<li>Choose a gallery.</li>"; $("#more-clusters").hidden = true; return; }
  if (!more) state.clustersOffset = 0;
  let page;
  try {
    page = await api("GET", `${base()}/clusters?offset=${state.clustersOffset}&limit=${CLUSTERS_PAGE}&faces=${CLUSTER_FACES}`);
  } catch (err) {
    list.innerHTML = "";
    list.append(el("li", null, err.code === "unknown_gallery" ? "This gallery is empty." : err.message));
    $("#more-clusters").hidden = true;
    return;
  }
  if (!more) list.innerHTML = "";
  if (!page.total) list.innerHTML = "<li>No clusters yet: <code>faceprint cluster DIR --gallery G</code> makes them, and so do unknown faces of photos sent here when the server runs with <code>--cluster-unknown</code>.</li>";
  page.clusters.forEach((c) => list.append(clusterItem(c)));
  state.clustersOffset = page.next_offset || 0;
  $("#more-clusters").hidden = page.next_offset == null;
  $("#clusters-count").textContent = page.total ? `(${page.total})` : "";
  $("#clusters-alone").textContent = page.alone ? `${page.alone} face(s) are in no cluster yet.` : "";
  updateMerge();
  document.body.dataset.clusters = String(Date.now());  // the page's tests wait for a fresh list
}

function clusterItem(c) {
  const li = el("li", "cluster");
  li.dataset.id = c.id;
  const head = el("div", "cluster-head");
  const tick = el("input", "cluster-tick");
  tick.type = "checkbox"; tick.value = c.id; tick.setAttribute("aria-label", `tick cluster ${c.id} to merge`);
  tick.addEventListener("change", updateMerge);
  head.append(tick, el("span", "cluster-title", `Cluster ${c.id} · ${c.size} face${c.size === 1 ? "" : "s"}`));
  const thumbs = el("div", "thumbs");
  const more = el("button", "secondary small more-faces", "More faces");
  more.hidden = c.faces.length >= c.size;
  if (!more.hidden) more.textContent = `More faces (${c.size - c.faces.length} more)`;
  c.faces.forEach((f) => thumbs.append(clusterThumb(c, f)));
  more.addEventListener("click", async () => {
    try {
      const page = await api("GET", `${base()}/clusters/${c.id}?offset=${thumbs.children.length}&limit=${CLUSTER_FACES}`);
      page.faces.forEach((f) => thumbs.append(clusterThumb(c, f)));
      more.hidden = page.next_offset == null;
      more.textContent = `More faces (${page.total - thumbs.children.length} more)`;
    } catch (err) { clusterStatus(err.message, true); }
  });

  const selected = () => [...thumbs.querySelectorAll(".thumb.selected")].map((t) => Number(t.dataset.face));
  const actions = el("div", "cluster-actions");
  const nameForm = el("form", "name-cluster");
  const nameInput = el("input");
  nameInput.placeholder = "name this person"; nameInput.setAttribute("list", "people-list"); nameInput.required = true;
  nameInput.setAttribute("aria-label", `name of cluster ${c.id}`);
  const nameBtn = el("button", "small", "Name");
  nameBtn.type = "submit";
  nameForm.append(nameInput, nameBtn);
  nameForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = nameInput.value.trim();
    if (!name) return;
    clusterAction(() => api("POST", `${base()}/clusters/${c.id}/name`, { name }),
      (r) => `Cluster ${c.id}: ${r.enrolled.length} face(s) enrolled as ${r.person}` +
             (r.skipped.length ? ` (${r.skipped.length} skipped: photo already enrolled)` : "") + ".");
  });
  const split = el("button", "secondary small split", "Split selected");
  split.type = "button";
  split.addEventListener("click", () => {
    const faces = selected();
    if (!faces.length) { clusterStatus("Select the faces to split off first (click them).", true); return; }
    clusterAction(() => api("POST", `${base()}/clusters/${c.id}/split`, { faces }),
      (r) => `${faces.length} face(s) of cluster ${c.id} moved to new cluster ${r.cluster}.`);
  });
  const kind = el("select", "move-kind");
  for (const [v, t] of [["cluster", "to cluster"], ["person", "to person"]]) { const o = el("option", null, t); o.value = v; kind.append(o); }
  kind.setAttribute("aria-label", "move to a cluster or a person");
  const target = el("input", "move-target");
  target.placeholder = "cluster id or name"; target.setAttribute("aria-label", "where to move the selected faces");
  const move = el("button", "secondary small move", "Move selected");
  move.type = "button";
  move.addEventListener("click", () => {
    const faces = selected();
    const to = target.value.trim();
    if (!faces.length || !to) { clusterStatus("Select faces (click them) and say where they go.", true); return; }
    const body = kind.value === "cluster" ? { cluster: Number(to) } : { person: to };
    if (kind.value === "cluster" && !(Number.isInteger(body.cluster) && body.cluster > 0)) {
      clusterStatus("A cluster id is a whole number (shown as 'Cluster N').", true); return;
    }
    clusterAction(async () => { for (const f of faces) await api("POST", `${base()}/clusters/faces/${f}/move`, body); return {}; },
      () => `${faces.length} face(s) moved ${kind.value === "cluster" ? `to cluster ${to}` : `to ${to}`}.`);
  });
  actions.append(nameForm, split, kind, target, move);
  li.append(head, thumbs, more, actions);
  return li;
}

function clusterThumb(c, f) {
  const box = el("figure", "thumb");
  box.dataset.face = f.id;
  const img = el("img");
  img.alt = `cluster ${c.id}, face ${f.id}`;
  img.title = `face ${f.id}: ${f.source} (click to select)`;
  api("GET", f.image).then((blob) => { img.src = URL.createObjectURL(blob); }).catch(() => {});
  img.tabIndex = 0;  // selectable from the keyboard too (Enter or Space)
  img.setAttribute("role", "checkbox");
  img.setAttribute("aria-checked", "false");
  const toggle = () => { box.classList.toggle("selected"); img.setAttribute("aria-checked", String(box.classList.contains("selected"))); };
  img.addEventListener("click", toggle);
  img.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggle(); } });
  const no = el("button", "not-this", "Not this person");
  no.type = "button";
  no.title = `Face ${f.id} is not the person of cluster ${c.id}: take it out and keep it apart`;
  no.addEventListener("click", () => clusterAction(() => api("POST", `${base()}/clusters/faces/${f.id}/not-this-person`),
    () => `Face ${f.id} taken out of cluster ${c.id}; it stays apart from that person.`));
  box.append(img, no);
  return box;
}

async function clusterAction(call, said) {
  try { const r = await call(); clusterStatus(said(r)); }
  catch (err) { clusterStatus(err.message, true); }
  await refreshClusters();
}

async function mergeTicked() {
  const ids = tickedClusters();
  if (ids.length < 2) return;
  await clusterAction(() => api("POST", `${base()}/clusters/merge`, { clusters: ids }),
    (r) => `Clusters ${ids.join(", ")} merged into cluster ${r.cluster} (${r.size} faces).`);
}

// -- camera ---------------------------------------------------------------------------------------------------

async function cameraOn() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    status("This browser gives no camera here (it needs https or localhost).", true); return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false });
    $("#video").srcObject = state.stream;
    $("#camera-box").hidden = false;
  } catch (err) { status(`Camera: ${err.message}`, true); }
}

function cameraOff() {
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  $("#camera-box").hidden = true;
}

function snap() {
  const v = $("#video");
  if (!v.videoWidth) { status("The camera has no picture yet.", true); return; }
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext("2d").drawImage(v, 0, 0);
  c.toBlob((blob) => identifyAll([{ blob, name: "snapshot.jpg" }]), "image/jpeg", 0.92);
}

// -- wiring ---------------------------------------------------------------------------------------------------

function remember() {
  sessionStorage.setItem("faceprint-key", key());
  sessionStorage.setItem("faceprint-gallery", gallery());
}

function chosen(fileList) { return [...fileList].map((f) => ({ blob: f, name: f.name })); }

async function init() {
  $("#key").value = sessionStorage.getItem("faceprint-key") || "";
  $("#gallery").value = sessionStorage.getItem("faceprint-gallery") || "";
  $("#key").addEventListener("change", () => { remember(); refreshPeople(); loadGalleries(); });
  $("#gallery").addEventListener("change", () => { remember(); refreshPeople(); if (!$("#clusters-section").hidden) refreshClusters(); });
  $("#file").addEventListener("change", (ev) => { const f = chosen(ev.target.files); if (f.length) identifyAll(f); ev.target.value = ""; });
  const drop = $("#drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault(); drop.classList.remove("over");
    const f = chosen(ev.dataTransfer.files); if (f.length) identifyAll(f);
  });
  $("#camera").addEventListener("click", cameraOn);
  $("#camera-off").addEventListener("click", cameraOff);
  $("#snap").addEventListener("click", snap);
  $("#refresh").addEventListener("click", () => refreshPeople());
  $("#more-people").addEventListener("click", () => refreshPeople(true));
  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  $("#clusters-refresh").addEventListener("click", () => refreshClusters());
  $("#more-clusters").addEventListener("click", () => refreshClusters(true));
  $("#merge").addEventListener("click", mergeTicked);
  let typing;
  $("#people-search").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => refreshPeople(), 250); });
  let resizing;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => document.querySelectorAll("#results .result").forEach((c) => c.redraw && c.redraw()), 150);
  });
  try {
    const ready = await (await fetch("/ready")).json();
    state.multi = !!ready.multi;
    if (ready.error) status(ready.error.message, true);
  } catch (err) { status("The server does not answer.", true); }
  $("#gallery-box").hidden = !state.multi;
  await loadGalleries();
  await refreshPeople();
  document.body.dataset.ready = "1";
}

async function loadGalleries() {
  if (!state.multi) return;
  try {
    const names = (await api("GET", "/v1/galleries")).galleries;
    $("#gallery-list").innerHTML = "";
    names.forEach((n) => { const o = document.createElement("option"); o.value = n; $("#gallery-list").append(o); });
    if (!gallery() && names.length) { $("#gallery").value = names[0]; remember(); }
  } catch (err) { status(err.message, true); }
}

init();
