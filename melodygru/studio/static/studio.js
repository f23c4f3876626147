// melodygru studio: the page talks to the server's JSON API only (README, "Studio").
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: {}, primer: null, polling: null };

async function api(path, options) {
  const response = await fetch(path, options);
  let body = {};
  try { body = await response.json(); } catch (e) { body = { error: `HTTP ${response.status}` }; }
  if (!response.ok && response.status !== 202) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

function fillSelect(select, values, drawn) {
  select.replaceChildren();
  select.append(new Option(drawn, ""));
  for (const v of values) select.append(new Option(v, v));
}

function chooseModel() {
  const m = state.models[$("model").value];
  if (!m) return;
  $("model-about").textContent = m.error ? `cannot be used: ${m.error}`
    : `${m.description}${m.critic ? ", with a critic" : ""} (${m.source})`;
  const d = m.defaults || {};
  $("temperature").placeholder = d.temperature ?? "";
  $("top_k").placeholder = d.top_k ?? "";
  $("top_p").placeholder = d.top_p ?? "";
  const c = m.controls || { key: [], meter: [], style: [] };
  fillSelect($("key"), c.key, "drawn by the model");
  fillSelect($("meter"), c.meter, "the model's choice");
  fillSelect($("style"), c.style, "drawn by the model");
  $("key-row").hidden = !c.key.length;
  $("meter-row").hidden = !c.meter.length;
  $("style-row").hidden = !c.style.length;
  $("no-controls").hidden = !!(c.key.length || c.meter.length || c.style.length);
}

async function loadModels() {
  const found = await api("/api/models");
  const select = $("model");
  select.replaceChildren();
  for (const m of found.models) {
    state.models[m.name] = m;
    select.append(new Option(m.name + (m.source === "shipped" ? " (shipped)" : ""), m.name));
  }
  if (found.default) select.value = found.default;
  chooseModel();
}

async function uploadPrimer() {
  const file = $("primer").files[0];
  state.primer = null;
  $("primer-status").textContent = "";
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  try {
    const p = await api("/api/primer", { method: "POST", body: form });
    state.primer = p.primer;
    $("primer-status").textContent = `${p.name}: ${p.notes} notes; its first bars open every piece`;
    showError("");
  } catch (e) {
    $("primer").value = "";
    showError(`primer: ${e.message}`);
  }
}

function requestBody() {
  const body = { model: $("model").value, wait: false };
  for (const name of ["length", "bars", "num_samples", "top_k", "seed", "primer_bars"]) {
    const v = $(name).value.trim();
    if (v !== "" && !$(name).closest("label").hidden) body[name] = parseInt(v, 10);
  }
  for (const name of ["temperature", "top_p"]) {
    const v = $(name).value.trim();
    if (v !== "") body[name] = parseFloat(v);
  }
  for (const name of ["key", "meter", "style"]) {
    if (!$(`${name}-row`).hidden && $(name).value) body[name] = $(name).value;
  }
  if (state.primer) body.primer = state.primer;
  else delete body.primer_bars;
  return body;
}

function link(href, text, cls) {
  const a = document.createElement("a");
  a.href = `${href}?download=1`;
  a.textContent = text;
  a.className = cls;
  a.setAttribute("download", "");
  return a;
}

function pieceCard(p) {
  const li = document.createElement("li");
  li.className = "piece";
  li.dataset.id = p.id;
  const title = document.createElement("h3");
  title.textContent = `${p.id} · ${p.model}`;
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.textContent = [`${p.bars} bars`, `${p.notes} notes`, `${p.seconds.toFixed(1)} s`, `seed ${p.seed}`,
    `temperature ${p.temperature}`, p.key, p.meter, p.style].filter(Boolean).join(" · ");
  li.append(title, meta);
  if (p.wav) {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "metadata";
    audio.src = p.wav;
    li.append(audio);
  }
  if (p.png) {
    const img = document.createElement("img");
    img.className = "roll";
    img.alt = `piano roll of ${p.id}`;
    img.src = p.png;
    li.append(img);
  }
  if (p.svg) {
    const img = document.createElement("img");
    img.className = "score";
    img.alt = `score of ${p.id}`;
    img.src = p.svg;
    li.append(img);
  }
  const links = document.createElement("p");
  links.className = "links";
  links.append(link(p.midi, "MIDI", "midi"));
  if (p.wav) links.append(link(p.wav, "WAV", "wav"));
  if (p.score) links.append(link(p.score, "MusicXML", "musicxml"));
  if (p.svg) links.append(link(p.svg, "score SVG", "svg"));
  if (p.missing) links.append(document.createTextNode(` (not written: ${p.missing.join(", ")})`));
  li.append(links);
  return li;
}

function addPieces(pieces) {
  const list = $("pieces");
  for (const p of pieces.slice().reverse()) list.prepend(pieceCard(p));
  $("empty").hidden = list.children.length > 0;
}

function describe(job) {
  if (job.status === "queued") return `queued (${job.ahead} ahead)`;
  return `${job.stage} · ${job.elapsed_s.toFixed(1)} s`;
}

function finish(message) {
  clearInterval(state.polling);
  state.polling = null;
  $("generate").disabled = false;
  $("progress").hidden = true;
  showError(message);
}

async function generate(event) {
  event.preventDefault();
  showError("");
  $("generate").disabled = true;
  $("progress").hidden = false;
  $("status").textContent = "sending";
  let job;
  try {
    job = await api("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
                                        body: JSON.stringify(requestBody()) });
  } catch (e) {
    finish(e.message);
    return;
  }
  $("status").textContent = describe(job);
  const poll = state.polling = setInterval(async () => {
    try {
      const now = await api(`/api/jobs/${job.job}`);
      if (state.polling !== poll) return;  // an earlier poll already finished this job (a slow answer)
      $("status").textContent = describe(now);
      if (now.status === "done") {
        addPieces(now.pieces);
        finish("");
        state.models[now.model] && (state.models[now.model].loaded = true);
      } else if (now.status === "failed") {
        finish(now.error);
      }
    } catch (e) {
      if (state.polling === poll) finish(e.message);
    }
  }, 400);
}

async function start() {
  $("model").addEventListener("change", chooseModel);
  $("primer").addEventListener("change", uploadPrimer);
  $("settings").addEventListener("submit", generate);
  try {
    await loadModels();
    addPieces((await api("/api/pieces")).pieces);
  } catch (e) {
    showError(`the studio could not be reached: ${e.message}`);
  }
}

start();
