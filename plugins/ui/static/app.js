// artengine's page: forms built from the options plugins declare; runs through the JSON API.
// No framework and nothing loaded from elsewhere (the page must work offline).
"use strict";

let schema = null;
const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

async function api(path, body) {
  const options = body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  return {ok: response.ok, data};
}

// -- fields from declarations -------------------------------------------------------------

function shown(value) {
  return Array.isArray(value) ? value.join(", ") : String(value);
}

// One form field for a declared option ({name, type, default, help, choices, min, max}).
function optionField(key, option) {
  const id = `f-${Math.random().toString(36).slice(2)}`;
  const limits = [option.type];
  if (option.min !== undefined) limits.push(`min ${option.min}`);
  if (option.max !== undefined) limits.push(`max ${option.max}`);
  let input;
  if (option.type === "bool") {
    input = el("input", {type: "checkbox", id, checked: option.default === true});
  } else if (option.choices) {
    input = el("select", {id}, option.choices.map(c => el("option", {value: String(c), text: String(c)})));
    input.value = String(option.default);
  } else {
    input = el("input", {type: "text", id, value: shown(option.default), inputmode: option.type === "str" || option.type === "list" ? "text" : "decimal"});
  }
  input.dataset.key = key;
  input.dataset.default = option.type === "bool" ? String(option.default) : shown(option.default);
  input.title = option.help;
  return el("div", {class: "field", "data-key": key},
    el("label", {for: id, title: option.help}, `${option.name} `, el("span", {class: "limits", text: `(${limits.join(", ")})`})),
    input, el("small", {class: "help", text: option.help}), el("div", {class: "error", role: "alert"}));
}

function valueOf(input) {
  return input.type === "checkbox" ? String(input.checked) : input.value;
}

// The fields of a form: run settings always, plugin options only where changed (so that
// compare labels name what differs, as on the command line).
function collect(root) {
  const fields = {};
  for (const input of $$("[data-key]", root).filter(n => n.matches("input, select, textarea"))) {
    const key = input.dataset.key;
    const value = valueOf(input);
    if (key.includes(".") && value === input.dataset.default) continue;
    if (!key.includes(".") && value === "") continue;
    fields[key] = value;
  }
  return fields;
}

function fillGeneratorOptions(container, name, prefix = "generator") {
  container.replaceChildren(el("legend", {text: `${name} options`}));
  const generator = schema.generators.find(g => g.name === name);
  if (!generator) return;
  for (const option of generator.options) container.append(optionField(`${prefix}.${option.name}`, option));
}

function fillScorerOptions(container, name) {
  container.replaceChildren();
  const scorer = schema.scorers.find(s => s.name === name);
  if (scorer) for (const option of scorer.options) container.append(optionField(`scorer.${option.name}`, option));
}

function runFields(container, {withScorer}) {
  const core = Object.fromEntries(schema.core.map(o => [o.name, o]));
  const text = (key, label, help, placeholder = "") => {
    const id = `f-${key}-${Math.random().toString(36).slice(2)}`;
    const input = el("input", {type: "text", id, placeholder});
    input.dataset.key = key;
    input.title = help;
    return el("div", {class: "field", "data-key": key}, el("label", {for: id, text: label}), input,
      el("small", {class: "help", text: help}), el("div", {class: "error", role: "alert"}));
  };
  container.append(
    text("n", "Candidates (-n)", core.n.help, "1"),
    text("seed", "Seed", core.seed.help + " Empty: drawn.", "random"),
    text("size", "Size (WxH)", core.size.help, "the generator's"),
  );
  const device = optionField("device", core.device);
  $("select", device).value = "auto";
  container.append(device);
  if (!withScorer) return;
  container.append(text("keep", "Keep best (--keep)", core.keep.help, "0"));
  const scorerId = `f-scorer-${Math.random().toString(36).slice(2)}`;
  const scorer = el("select", {id: scorerId}, el("option", {value: "", text: "default (clip when installed)"}),
    el("option", {value: "none", text: "none"}), schema.scorers.map(s => el("option", {value: s.name, text: s.name})));
  scorer.dataset.key = "scorer";
  const scorerOptions = el("div", {class: "scorer-options"});
  scorer.addEventListener("change", () => fillScorerOptions(scorerOptions, scorer.value));
  container.append(el("div", {class: "field", "data-key": "scorer"}, el("label", {for: scorerId, text: "Scorer"}), scorer,
    el("small", {class: "help", text: "Ranks the candidates: " + schema.scorers.map(s => `${s.name}: ${s.description}`).join("; ")}),
    el("div", {class: "error", role: "alert"})), scorerOptions);
  if (schema.losses.length) container.append(lossFields());
}

// Losses for generators that optimise: each chosen loss with its weight and its declared
// options, sent as `losses.NAME.KEY` (what `--set` and a config file's [losses.NAME] take).
function lossFields() {
  const list = el("div", {class: "loss-list"});
  const picker = el("select", {class: "loss-picker", "aria-label": "loss to add"},
    schema.losses.map(l => el("option", {value: l.name, text: l.name, title: l.description})));
  const add = el("button", {type: "button", class: "add-loss", onclick: () => addLoss(list, picker.value), text: "add"});
  return el("fieldset", {class: "losses field", "data-key": "losses"}, el("legend", {text: "Losses"}),
    el("small", {class: "help", text: "Extra loss terms for generators that optimise (e.g. vqgan-clip): " +
      schema.losses.map(l => `${l.name}: ${l.description}`).join("; ")}),
    el("div", {class: "error", role: "alert"}),  // first: the error of the losses as a whole
    list, el("div", {class: "add-row"}, picker, add));
}

function addLoss(list, name, weight = 1) {
  const loss = schema.losses.find(l => l.name === name);
  if (!loss || $(`.loss[data-loss="${name}"]`, list)) return $(`.loss[data-loss="${name}"]`, list);
  const weightField = optionField(`losses.${name}.weight`, {name: "weight", type: "float", default: weight,
    help: `How much ${name} counts against the prompt; negative pushes away.`});
  delete $("input", weightField).dataset.default;  // always sent: it is what adds the loss
  const block = el("fieldset", {class: "loss", "data-loss": name}, el("legend", {text: name}), weightField,
    loss.options.map(option => optionField(`losses.${name}.${option.name}`, option)),
    el("button", {type: "button", class: "remove", onclick: () => block.remove(), text: "remove"}));
  list.append(block);
  return block;
}

function generatorPicker(select, help, options) {
  select.replaceChildren(...schema.generators.map(g => el("option", {value: g.name, text: `${g.name} (${g.plugin})`})));
  select.dataset.key = "generator";
  const update = () => {
    const generator = schema.generators.find(g => g.name === select.value);
    help.textContent = generator ? `${generator.description} Default size ${generator.default_size}.` : "";
    fillGeneratorOptions(options, select.value);
  };
  select.addEventListener("change", update);
  update();
}

// -- errors beside their fields -------------------------------------------------------------

function clearErrors(form) {
  for (const field of $$(".field", form)) field.classList.remove("invalid");
  for (const error of $$(".error", form)) error.textContent = "";
}

function showError(form, data) {
  const field = data.field && $$(".field", form).find(f => f.dataset.key === data.field && $(".error", f));
  if (field) field.classList.add("invalid");
  $(field ? ".error" : ".form-error", field || form).textContent = data.error;
}

// -- jobs and their live state ----------------------------------------------------------

function imageFigure(image, {reproduce = true} = {}) {
  const path = image.url.replace(/^\/files\//, "");
  const score = image.score === null || image.score === undefined ? "" : ` · score ${Number(image.score).toFixed(4)}`;
  const caption = el("figcaption", {},
    el("div", {text: `#${image.rank}${score} · seed ${image.seed}`}),
    el("div", {class: "help", text: `${image.configuration}: ${image.prompt}`}),
    el("button", {type: "button", class: "metadata", onclick: () => showMetadata(path), text: "metadata"}),
    reproduce ? el("button", {type: "button", class: "reproduce", onclick: () => reproduceImage(path), text: "reproduce"}) : null,
    el("button", {type: "button", class: "use-settings", onclick: () => useSettings(path), text: "use these settings"}));
  return el("figure", {"data-path": path}, el("img", {src: image.url, alt: image.prompt, onclick: () => showMetadata(path)}), caption);
}

async function showMetadata(path) {
  const {data} = await api(`/api/image?path=${encodeURIComponent(path)}`);
  const dialog = $("#details");
  $("pre", dialog).textContent = JSON.stringify(data.metadata || data, null, 2);
  dialog.showModal();
}

function renderJob(view, state, form) {
  const box = $(`#${view}-job`);
  const p = state.progress || {};
  const done = ["complete", "interrupted", "failed", "cancelled"].includes(state.status);
  $(".stop", form).disabled = done;
  $(".primary", form).disabled = false;
  let line = state.status;
  if (state.status === "queued") line += ` (position ${state.position} in the ${state.device} queue)`;
  const parts = [el("div", {class: `status ${state.status}`, "data-status": state.status, text: `${state.title}: ${line}`})];
  if (state.status === "running" || p.total) {
    const rate = p.rate ? ` · ${p.rate.toFixed(p.rate < 10 ? 2 : 1)} steps/s` : "";
    const eta = p.eta_s !== null && p.eta_s !== undefined && !done ? ` · ETA ${Math.round(p.eta_s)} s` : "";
    parts.push(el("progress", {max: p.total || 1, value: p.step || 0}),
      el("div", {class: "progress-text", text: `${p.label || ""} step ${p.step}/${p.total}${rate}${eta}`}));
  }
  if (state.error) parts.push(el("div", {class: "error job-error", text: state.error}));
  if (state.identical !== undefined) {
    parts.push(el("div", {class: "reproduced", text: state.identical ? "identical to the original" : `different (largest pixel difference ${state.max_difference})`}));
  }
  if (state.run) parts.push(el("div", {class: "help run-name", text: `run folder: ${state.run}`}));
  if (state.status === "interrupted" && state.run) {
    parts.push(el("button", {type: "button", class: "resume", onclick: () => resumeRun(state.run, view, form), text: "Resume this run"}));
  }
  if (state.preview && !done) parts.push(el("div", {class: "preview"}, el("div", {class: "help", text: "preview"}), el("img", {src: `${state.preview}?t=${Date.now()}`, alt: "preview"})));
  if (state.grid) parts.push(el("div", {class: "grid"}, el("img", {src: `${state.grid}?t=${Date.now()}`, alt: "comparison grid"}),
    el("a", {href: state.report, target: "_blank", text: "report (index.html)"})));
  if (state.images && state.images.length) parts.push(el("div", {class: "images"}, state.images.map(i => imageFigure(i))));
  box.replaceChildren(...parts);
}

function follow(view, job, form) {
  renderJob(view, job, form);
  form.dataset.job = job.id;
  const events = new EventSource(`/api/jobs/${job.id}/events`);
  events.onmessage = message => {
    const state = JSON.parse(message.data);
    renderJob(view, state, form);
    if (["complete", "interrupted", "failed", "cancelled"].includes(state.status)) events.close();
  };
  events.onerror = () => events.close();
}

async function submit(view, form, path, body) {
  clearErrors(form);
  $(".primary", form).disabled = true;
  const {ok, data} = await api(path, body);
  $(".primary", form).disabled = false;
  if (!ok) return showError(form, data);
  follow(view, data, form);
}

async function stop(form) {
  if (form.dataset.job) await api(`/api/jobs/${form.dataset.job}/stop`, {});
}

async function resumeRun(run, view = "generate", form = $("#generate-form")) {
  showView(view);
  clearErrors(form);
  const {ok, data} = await api("/api/resume", {run});
  if (!ok) return showError(form, data);
  follow(view, data, form);
}

async function reproduceImage(path) {
  const form = $("#generate-form");
  showView("generate");
  clearErrors(form);
  const {ok, data} = await api("/api/reproduce", {path});
  if (!ok) return showError(form, data);
  follow("generate", data, form);
}

// Fill the Generate form with the settings an image was made with.
async function useSettings(path) {
  const {ok, data} = await api(`/api/image?path=${encodeURIComponent(path)}`);
  if (!ok) return;
  const record = data.metadata, config = record.config || {};
  const form = $("#generate-form");
  showView("generate");
  $("#generate-prompt").value = record.prompt || "";
  const generator = (config.generator || {}).name;
  if (generator) {
    const picker = $("#generate-generator");
    picker.value = generator;
    picker.dispatchEvent(new Event("change"));
  }
  const set = (key, value) => {
    const input = $$("[data-key]", form).find(n => n.dataset.key === key && n.matches("input, select, textarea"));
    if (!input || value === undefined) return;
    if (input.type === "checkbox") input.checked = value === true; else input.value = shown(value);
    input.dispatchEvent(new Event("change"));
  };
  set("seed", record.seed); set("size", config.size); set("device", config.device);
  if (config.scorer) set("scorer", config.scorer.name);
  for (const [table, values] of [["generator", config.generator], ["scorer", config.scorer]]) {
    for (const [name, value] of Object.entries(values || {})) if (name !== "name") set(`${table}.${name}`, value);
  }
  const losses = $(".loss-list", form);
  if (losses) {
    losses.replaceChildren();
    for (const [name, spec] of Object.entries(config.losses || {})) {
      addLoss(losses, name);
      for (const [key, value] of Object.entries(spec || {})) set(`losses.${name}.${key}`, value);
    }
  }
}

// -- views ---------------------------------------------------------------------------------

function showView(name) {
  for (const tab of $$(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  for (const view of $$(".view")) view.classList.toggle("active", view.id === `view-${name}`);
  if (name === "gallery") loadGallery();
  if (name === "models") loadModels();
}

function setupGenerate() {
  const form = $("#generate-form");
  $(".prompt-help", form).textContent = schema.prompt_help;
  generatorPicker($("#generate-generator"), $(".generator-help", form), $(".generator-options", form));
  runFields($(".run-options", form), {withScorer: true});
  form.addEventListener("submit", event => {
    event.preventDefault();
    submit("generate", form, "/api/generate", {prompt: $("#generate-prompt").value, fields: collect(form)});
  });
  $(".stop", form).addEventListener("click", () => stop(form));
}

function addConfiguration(list, name) {
  const picker = el("select", {class: "generator-picker"});
  const help = el("small", {class: "help"});
  const options = el("fieldset", {class: "generator-options"});
  const block = el("div", {class: "configuration"},
    el("div", {class: "field", "data-key": "generator"}, el("label", {text: "Generator"}), picker, help,
      el("div", {class: "error", role: "alert"})),
    options, el("button", {type: "button", class: "remove", onclick: () => block.remove(), text: "remove"}));
  list.append(block);
  generatorPicker(picker, help, options);
  if (name) { picker.value = name; picker.dispatchEvent(new Event("change")); }
}

function setupCompare() {
  const form = $("#compare-form");
  runFields($(".run-options", form), {withScorer: false});
  const list = $(".configurations", form);
  $(".add-configuration", form).addEventListener("click", () => addConfiguration(list));
  addConfiguration(list);
  form.addEventListener("submit", event => {
    event.preventDefault();
    const shared = collect($(".run-options", form));
    const configurations = $$(".configuration", form).map(block => ({fields: collect(block)}));
    submit("compare", form, "/api/compare", {prompt: $("#compare-prompt").value, fields: shared, configurations, axes: $("#compare-axes").value});
  });
  $(".stop", form).addEventListener("click", () => stop(form));
}

async function loadGallery() {
  const query = $("#gallery-search").value;
  const {data} = await api(`/api/runs?q=${encodeURIComponent(query)}`);
  const list = $("#gallery-list"), how = $("#gallery-how");
  const search = data.search;
  how.dataset.by = search ? search.by : "";
  how.textContent = !search ? "" : search.by === "clip"
    ? `Searched by CLIP in the index ${search.index} (${search.hits} best images; \`artengine index update\` adds newer runs).`
    : `Searched by prompt text (${search.note}).`;
  if (!data.runs.length) return list.replaceChildren(el("p", {class: "help", text: query ? "No run matches." : "No runs yet."}));
  list.replaceChildren(...data.runs.map(run => el("div", {class: "run-card", "data-run": run.name, onclick: () => openRun(run.name)},
    run.thumb ? el("img", {src: run.thumb, alt: ""}) : null,
    el("div", {text: run.prompts.join(" / ")}),
    run.similarity !== undefined ? el("div", {class: "similarity", text: `similarity ${run.similarity.toFixed(3)}`}) : null,
    el("div", {class: "help", text: `${run.kind} · ${run.generators.join(", ")} · ${run.status} · ${run.images} image(s)`}),
    el("div", {class: "help", text: run.name}))));
}

async function openRun(name) {
  const {ok, data} = await api(`/api/runs/${encodeURIComponent(name)}`);
  const box = $("#gallery-run");
  if (!ok) return box.replaceChildren(el("p", {class: "error", text: data.error}));
  const doc = data.document;
  const status = doc.status === "interrupted" || doc.status === "failed"
    ? el("button", {type: "button", class: "resume", onclick: () => resumeRun(name), text: "Resume this run"}) : null;
  box.replaceChildren(...[
    el("h2", {text: name}),
    el("div", {class: `status ${doc.status}`, "data-status": doc.status, text: `${doc.kind}: ${doc.status}${doc.error ? ` (${doc.error})` : ""}`}),
    status,
    data.files["grid.png"] ? el("div", {class: "grid"}, el("img", {src: data.files["grid.png"], alt: "grid"})) : null,
    data.files["index.html"] ? el("a", {href: data.files["index.html"], target: "_blank", text: "report (index.html)"}) : null,
    el("div", {class: "images"}, data.images.map(i => imageFigure(i))),
    el("details", {}, el("summary", {text: "run.json"}), el("pre", {text: JSON.stringify(doc, null, 2)})),
  ].filter(part => part !== null));
}

async function loadModels() {
  const list = $("#models-list");
  list.replaceChildren(...schema.models.map(loader => el("div", {class: "model"},
    el("h3", {text: `${loader.name} (plugin ${loader.plugin})`}),
    el("p", {text: loader.description}),
    el("p", {class: "help", text: `specs: ${loader.spec_forms.join(", ")}`}),
    loader.available.map(model => el("div", {class: "model-card"},
      el("h4", {text: model.spec}), el("p", {text: model.description}),
      Object.keys(model.details).length ? el("table", {}, Object.entries(model.details).map(([k, v]) =>
        el("tr", {}, el("th", {text: k}), el("td", {text: typeof v === "object" ? JSON.stringify(v) : String(v)})))) : null)))));
}

async function start() {
  schema = (await api("/api/schema")).data;
  for (const tab of $$(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  setupGenerate();
  setupCompare();
  let timer = null;
  $("#gallery-search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(loadGallery, 250); });
  $("#gallery-refresh").addEventListener("click", loadGallery);
  document.body.dataset.ready = "true";
}

start();
