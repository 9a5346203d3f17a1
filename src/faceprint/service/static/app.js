// faceprint's web page: identify faces in a photo or a webcam snapshot, enrol them, manage the people.
// Plain JavaScript, no build step, nothing fetched from other hosts. The API key lives in this tab only.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { multi: false, image: null, imageName: "photo.jpg", faces: [], stream: null };

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

function pct(x) { return x == null ? "" : `${Math.round(100 * x)}%`; }

function label(face) {
  if (!face.unknown) return `${face.person} ${pct(face.confidence)}`;
  return face.closest ? `UNKNOWN (closest: ${face.closest}, ${pct(face.confidence)})` : "UNKNOWN";
}

// -- photo -> identify ----------------------------------------------------------------------------------------

function loadImage(blob) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("this file is not an image the browser can show"));
    img.src = URL.createObjectURL(blob);
  });
}

async function identify(blob, name) {
  if (state.multi && !gallery()) { status("Type a gallery name first.", true); return; }
  state.imageName = name || "photo.jpg";
  status("Looking for faces…");
  $("#faces").innerHTML = "";
  try {
    state.image = await loadImage(blob);
    draw([]);
    const form = new FormData();
    form.append("file", blob, state.imageName);
    let result;
    try {
      result = await api("POST", `${base()}/identify`, form);
    } catch (err) {
      if (err.code !== "unknown_gallery") throw err;
      // a new gallery: nobody to compare with yet, so every face is UNKNOWN (and can be enrolled to create it)
      const found = await api("POST", "/v1/detect", form);
      result = { faces: found.faces.map((f) => ({ box: f.box, person: null, unknown: true, closest: null, confidence: null, candidates: [] })) };
    }
    state.faces = result.faces;
    draw(result.faces);
    listFaces(result.faces);
    status(result.faces.length ? `${result.faces.length} face(s) found.` : "No face found in this photo.");
  } catch (err) {
    status(err.message, true);
  }
}

function draw(faces) {
  const img = state.image, canvas = $("#canvas");
  if (!img) return;
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const lw = Math.max(2, Math.round(img.naturalWidth / 250));
  const fs = Math.max(12, Math.round(img.naturalWidth / 30));
  faces.forEach((f, i) => {
    const [x1, y1, x2, y2] = f.box;
    const color = f.unknown ? "#d0342c" : "#1a8f4a";
    ctx.lineWidth = lw; ctx.strokeStyle = color; ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const text = `${i + 1}. ${f.unknown ? "UNKNOWN" : f.person} ${f.unknown ? "" : pct(f.confidence)}`.trim();
    ctx.font = `${fs}px system-ui, sans-serif`;
    const w = ctx.measureText(text).width + 8, y = Math.max(0, y1 - fs - 6);
    ctx.fillStyle = color; ctx.fillRect(x1, y, w, fs + 6);
    ctx.fillStyle = "#fff"; ctx.fillText(text, x1 + 4, y + fs);
  });
  $("#stage").hidden = false;
}

function listFaces(faces) {
  const list = $("#faces");
  list.innerHTML = "";
  faces.forEach((f, i) => {
    const li = document.createElement("li");
    li.className = "face";
    const who = document.createElement("span");
    who.className = `who ${f.unknown ? "unknown" : "known"}`;
    who.textContent = label(f);
    const form = document.createElement("form");
    form.className = "enrol";
    const input = document.createElement("input");
    input.placeholder = "enrol as (new or existing name)";
    input.setAttribute("list", "people-list");
    input.value = f.unknown ? "" : f.person;
    input.setAttribute("aria-label", `name for face ${i + 1}`);
    const btn = document.createElement("button");
    btn.type = "submit"; btn.textContent = "Enrol";
    form.append(input, btn);
    form.addEventListener("submit", (ev) => { ev.preventDefault(); enrol(f, input.value.trim()); });
    li.append(who, form);
    list.append(li);
  });
}

function cropFace(face) {
  // The face with a margin, so the server finds it again; JPEG at most 800 px a side.
  const img = state.image, [x1, y1, x2, y2] = face.box;
  const m = 0.4 * Math.max(x2 - x1, y2 - y1);
  const sx = Math.max(0, x1 - m), sy = Math.max(0, y1 - m);
  const sw = Math.min(img.naturalWidth, x2 + m) - sx, sh = Math.min(img.naturalHeight, y2 + m) - sy;
  const scale = Math.min(1, 800 / Math.max(sw, sh));
  const c = document.createElement("canvas");
  c.width = Math.round(sw * scale); c.height = Math.round(sh * scale);
  c.getContext("2d").drawImage(img, sx, sy, sw, sh, 0, 0, c.width, c.height);
  return new Promise((resolve) => c.toBlob(resolve, "image/jpeg", 0.92));
}

async function enrol(face, name) {
  if (!name) { status("Type a name to enrol this face as.", true); return; }
  try {
    const crop = state.faces.length > 1 ? await cropFace(face) : null;
    const form = new FormData();
    if (crop) form.append("files", crop, `face-of-${state.imageName.replace(/\.[^.]*$/, "")}.jpg`);
    else form.append("files", await (await fetch(state.image.src)).blob(), state.imageName);
    const rep = await api("POST", `${base()}/people/${encodeURIComponent(name)}/faces`, form);
    if (rep.enrolled.length) status(`Enrolled as ${rep.person}.`);
    else status(`Not enrolled: ${rep.skipped.map((s) => s.reason + (s.detail ? ` (${s.detail})` : "")).join(", ")}`, true);
    await refreshPeople();
  } catch (err) {
    status(err.message, true);
  }
}

// -- people ---------------------------------------------------------------------------------------------------

async function refreshPeople() {
  const list = $("#people");
  if (state.multi && !gallery()) { list.innerHTML = "<li>Choose a gallery.</li>"; return; }
  let people;
  try {
    people = (await api("GET", `${base()}/people`)).people;
  } catch (err) {
    list.innerHTML = "";
    const li = document.createElement("li");
    li.textContent = err.code === "unknown_gallery" ? "This gallery is empty: enrol someone to create it." : err.message;
    list.append(li);
    return;
  }
  $("#people-list").innerHTML = "";
  list.innerHTML = "";
  if (!people.length) list.innerHTML = "<li>Nobody enrolled yet.</li>";
  for (const p of people) {
    const opt = document.createElement("option"); opt.value = p.name; $("#people-list").append(opt);
    const li = document.createElement("li");
    li.className = "person";
    const head = document.createElement("div"); head.className = "person-head";
    const name = document.createElement("span"); name.className = "person-name"; name.textContent = p.name;
    const count = document.createElement("span"); count.textContent = `${p.faces} face${p.faces === 1 ? "" : "s"}`;
    const ren = document.createElement("button"); ren.className = "secondary small rename"; ren.textContent = "Rename";
    ren.addEventListener("click", () => rename(p.name));
    const del = document.createElement("button"); del.className = "danger small remove"; del.textContent = "Remove";
    del.addEventListener("click", () => remove(p.name));
    head.append(name, count, ren, del);
    const thumbs = document.createElement("div"); thumbs.className = "thumbs";
    li.append(head, thumbs);
    list.append(li);
    showThumbs(p.name, thumbs);
  }
}

async function showThumbs(name, box) {
  try {
    const person = await api("GET", `${base()}/people/${encodeURIComponent(name)}`);
    for (const f of person.faces.slice(0, 8)) {
      const img = document.createElement("img");
      img.alt = `${name}, face ${f.id}`;
      img.title = f.source;
      box.append(img);
      api("GET", f.image).then((blob) => { img.src = URL.createObjectURL(blob); }).catch(() => {});
    }
  } catch (err) { /* the list itself says what went wrong */ }
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
  c.toBlob((blob) => identify(blob, "snapshot.jpg"), "image/jpeg", 0.92);
}

// -- wiring ---------------------------------------------------------------------------------------------------

function remember() {
  sessionStorage.setItem("faceprint-key", key());
  sessionStorage.setItem("faceprint-gallery", gallery());
}

async function init() {
  $("#key").value = sessionStorage.getItem("faceprint-key") || "";
  $("#gallery").value = sessionStorage.getItem("faceprint-gallery") || "";
  $("#key").addEventListener("change", () => { remember(); refreshPeople(); loadGalleries(); });
  $("#gallery").addEventListener("change", () => { remember(); refreshPeople(); });
  $("#file").addEventListener("change", (ev) => { const f = ev.target.files[0]; if (f) identify(f, f.name); ev.target.value = ""; });
  const drop = $("#drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault(); drop.classList.remove("over");
    const f = ev.dataTransfer.files[0]; if (f) identify(f, f.name);
  });
  $("#camera").addEventListener("click", cameraOn);
  $("#camera-off").addEventListener("click", cameraOff);
  $("#snap").addEventListener("click", snap);
  $("#refresh").addEventListener("click", refreshPeople);
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
    $("#gallery-list").innerHTML = names.map((n) => `<option value="${n}">`).join("");
    if (!gallery() && names.length) { $("#gallery").value = names[0]; remember(); }
  } catch (err) { status(err.message, true); }
}

init();
