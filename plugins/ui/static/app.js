// artengine's page: forms built from the options plugins declare; runs through the JSON API.
// No framework and nothing loaded from elsewhere (the page must work offline).
"use strict";

let schema = null;
const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
const DONE = ["complete", "interrupted", "failed", "cancelled", "lost"];
const STORE = "artengine.form.";        // + form id: the form's values, kept across reloads
const HISTORY = "artengine.history";    // the prompts submitted, newest first
const UPLOAD_ID = /^[0-9a-f]{24}\.(png|jpg|webp|gif|bmp|tif)$/;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

// Every request goes through here: a server that does not answer is said so, not a grey button.
async function api(path, body) {
  const options = body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    connection(false);
    return {ok: false, offline: true, data: {error: "The server is not answering (was `artengine ui` stopped?). Start it again; this page reconnects by itself."}};
  }
  connection(true);
  const data = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  return {ok: response.ok, status: response.status, data};
}

let online = true;
function connection(up) {
  if (up === online) return;
  online = up;
  const banner = $("#connection");
  banner.hidden = up;
  banner.textContent = up ? "" : "Lost contact with the server: `artengine ui` is not answering. Start it again; this page reconnects by itself.";
  document.body.dataset.online = String(up);
  if (up) sync();  // back: rejoin what runs
}

// -- fields from declarations -------------------------------------------------------------

function shown(value) {
  return Array.isArray(value) ? value.join(", ") : String(value);
}

const uid = prefix => `${prefix}-${Math.random().toString(36).slice(2)}`;
const sliding = o => (o.type === "int" || o.type === "float") && o.min !== undefined && o.max !== undefined
  && (o.type === "float" || o.max - o.min <= 10000);

// One form field for a declared option ({name, label, type, default, help, choices, min, max, image}):
// a checkbox, a list of choices, a slider with its number, an image upload, or text.
function optionField(key, option) {
  const id = uid("f");
  let input, control;
  if (option.image) return uploadField(key, option);
  if (option.type === "bool") {
    input = el("input", {type: "checkbox", id, checked: option.default === true});
  } else if (option.choices) {
    input = el("select", {id}, option.choices.map(c => el("option", {value: String(c), text: String(c)})));
    input.value = String(option.default);
  } else {
    input = el("input", {type: "text", id, value: shown(option.default), inputmode: option.type === "str" || option.type === "list" ? "text" : "decimal"});
  }
  if (sliding(option)) {
    const range = el("input", {type: "range", min: option.min, max: option.max, value: option.default, "aria-label": option.label || option.name,
      step: option.type === "int" ? 1 : Math.min(0.01, (option.max - option.min) / 100)});
    range.addEventListener("input", () => { input.value = range.value; input.dispatchEvent(new Event("input", {bubbles: true})); });
    input.addEventListener("input", () => { if (input.value !== "" && !isNaN(Number(input.value))) range.value = input.value; });
    input.addEventListener("change", () => { if (input.value !== "" && !isNaN(Number(input.value))) range.value = input.value; });
    control = el("div", {class: "slider-row"}, range, input);
  }
  input.dataset.key = key;
  input.dataset.default = option.type === "bool" ? String(option.default) : shown(option.default);
  input.title = option.help;
  const label = option.label || option.name;
  const field = option.type === "bool"
    ? el("div", {class: "field", "data-key": key}, el("label", {title: option.help}, input, label))
    : el("div", {class: "field", "data-key": key}, el("label", {for: id, title: option.help, text: label}), control || input);
  field.append(el("small", {class: "help", text: option.help}), el("div", {class: "error", role: "alert"}));
  return field;
}

// An image option: the image is uploaded and the field holds its upload id (ID or, in a list,
// ID:WEIGHT items), never a path on the server.
function uploadField(key, option) {
  const value = el("input", {type: "hidden", value: ""});
  value.dataset.key = key;
  value.dataset.default = shown(option.default);
  const many = option.type === "list";
  const chips = el("div", {class: "chips"});
  const file = el("input", {type: "file", accept: "image/*", multiple: many, class: "upload-file", "aria-label": option.label});
  const zone = el("label", {class: "dropzone"}, many ? "Drop images here, or choose" : "Drop an image here, or choose", file);
  const field = el("div", {class: "field upload", "data-key": key},
    el("div", {class: "label-row"}, el("label", {text: option.label || option.name, title: option.help})),
    value, zone, chips, el("small", {class: "help", text: option.help}), el("div", {class: "error", role: "alert"}));
  const items = () => value.value.split(",").map(s => s.trim()).filter(Boolean);
  const render = () => {
    chips.replaceChildren(...items().map((item, index) => {
      const [id, weight] = item.split(":");
      const parts = [el("img", {src: `/files/uploads/${id}`, alt: id})];
      if (many) {
        const box = el("input", {type: "text", value: weight || "1", title: "weight (negative pushes away)", "aria-label": "weight"});
        box.addEventListener("change", () => {
          const list = items();
          list[index] = box.value.trim() === "1" || box.value.trim() === "" ? id : `${id}:${box.value.trim()}`;
          setValue(list.join(","));
        });
        parts.push(box);
      }
      parts.push(el("button", {type: "button", class: "remove", text: "×", title: "remove", onclick: () => {
        setValue(items().filter((_, i) => i !== index).join(","));
      }}));
      return el("span", {class: "chip", "data-upload": id}, parts);
    }));
  };
  const setValue = text => { value.value = text; render(); value.dispatchEvent(new Event("change", {bubbles: true})); };
  value.addEventListener("render", render);
  const take = async files => {
    const error = $(".error", field);
    error.textContent = "";
    field.classList.remove("invalid");
    for (const f of files) {
      const {ok, data} = await upload(f);
      if (!ok) { error.textContent = data.error; field.classList.add("invalid"); return; }
      setValue(many ? [...items(), data.id].join(",") : data.id);
    }
  };
  file.addEventListener("change", () => { take([...file.files]); file.value = ""; });
  dropTarget(zone, files => take(many ? files : files.slice(0, 1)));
  return field;
}

function dropTarget(zone, take) {
  zone.addEventListener("dragover", event => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", event => {
    event.preventDefault();
    zone.classList.remove("over");
    take([...event.dataTransfer.files]);
  });
}

async function upload(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return api("/api/uploads", {data: btoa(binary)});
}

// A value as the form shows it: a recorded path of an upload (…/uploads/ID) is its ID again.
function formValue(input, value) {
  if (input.type === "hidden" && input.closest(".upload")) {
    return (Array.isArray(value) ? value : String(value).split(",")).map(item => {
      const name = String(item).trim().split("/").pop();
      return UPLOAD_ID.test(name.split(":")[0]) ? name : "";
    }).filter(Boolean).join(",");
  }
  return shown(value);
}

function valueOf(input) {
  return input.type === "checkbox" ? String(input.checked) : input.value;
}

function inputs(root) {
  return $$("[data-key]", root).filter(n => n.matches("input, select, textarea"));
}

// The fields of a form: run settings always, plugin options only where changed (so that
// compare labels name what differs, as on the command line).
function collect(root) {
  const fields = {};
  for (const input of inputs(root)) {
    const key = input.dataset.key;
    const value = valueOf(input);
    if (key.includes(".") && value === input.dataset.default) continue;
    if (!key.includes(".") && value === "") continue;
    fields[key] = value;
  }
  return fields;
}

function setField(root, key, value) {
  const input = inputs(root).find(n => n.dataset.key === key && (root.matches(".configuration") || !n.closest(".configuration")));
  if (!input || value === undefined || value === null) return;
  if (input.type === "checkbox") input.checked = value === true || value === "true";
  else input.value = formValue(input, value);
  input.dispatchEvent(new Event("change", {bubbles: true}));
  input.dispatchEvent(new Event("render"));
}

function generatorOf(name) {
  return schema.generators.find(g => g.name === name);
}

// The generator's options: its image options in view, the others folded under its name.
function fillGeneratorOptions(form, name, prefix = "generator") {
  const generator = generatorOf(name);
  const folded = $(".generator-options", form), images = $(".image-options", form);
  const options = generator ? generator.options : [];
  const plain = options.filter(o => !o.image);
  if (images) images.replaceChildren(...options.filter(o => o.image).map(o => optionField(`${prefix}.${o.name}`, o)));
  $("summary", folded).textContent = `${name} options (${(images ? plain : options).length})`;
  $(".options", folded).replaceChildren(...(images ? plain : options).map(o => optionField(`${prefix}.${o.name}`, o)));
  const losses = $(".losses", form);
  if (losses) losses.hidden = !(generator && generator.takes_losses);
}

function fillScorerOptions(container, name) {
  container.replaceChildren();
  const scorer = schema.scorers.find(s => s.name === name);
  if (scorer) for (const option of scorer.options) container.append(optionField(`scorer.${option.name}`, option));
}

function textField(key, label, help, placeholder = "") {
  const id = uid(`f-${key}`);
  const input = el("input", {type: "text", id, placeholder});
  input.dataset.key = key;
  input.title = help;
  return el("div", {class: "field", "data-key": key}, el("label", {for: id, text: label}), input,
    el("small", {class: "help", text: help}), el("div", {class: "error", role: "alert"}));
}

// The seed: a number, or empty for a random one; "reuse" takes the seed of the newest result.
function seedField(form) {
  const field = textField("seed", "Seed", "Empty: a random seed (recorded with the images).", "random");
  const input = $("input", field);
  const random = el("button", {type: "button", class: "seed-random", title: "a new random seed each run", text: "random",
    onclick: () => { input.value = ""; input.dispatchEvent(new Event("input", {bubbles: true})); }});
  const reuse = el("button", {type: "button", class: "seed-reuse", title: "the seed of the newest result", text: "reuse",
    onclick: () => {
      const seed = form.dataset.lastSeed;
      if (seed !== undefined) { input.value = seed; input.dispatchEvent(new Event("input", {bubbles: true})); }
    }});
  const row = el("div", {class: "seed-row"});
  input.replaceWith(row);
  row.append(input, random, reuse);
  $("small", field).remove();
  return field;
}

function runFields(form, basics, more, {withScorer}) {
  const core = Object.fromEntries(schema.core.map(o => [o.name, o]));
  const n = textField("n", "Images", core.n.help, "1");
  $("small", n).remove();
  const size = textField("size", "Size (WxH)", core.size.help, "default");
  $("small", size).remove();
  basics.append(n, seedField(form), size);
  const device = optionField("device", {...core.device, label: "Device"});
  $("select", device).value = "auto";
  more.append(device);
  if (!withScorer) return;
  more.append(textField("keep", "Keep the best (--keep)", core.keep.help, "all"));
  const scorerId = uid("f-scorer");
  const scorer = el("select", {id: scorerId}, el("option", {value: "", text: "default (clip when installed)"}),
    el("option", {value: "none", text: "none"}), schema.scorers.map(s => el("option", {value: s.name, text: s.name})));
  scorer.dataset.key = "scorer";
  const scorerOptions = el("div", {class: "scorer-options"});
  scorer.addEventListener("change", () => fillScorerOptions(scorerOptions, scorer.value));
  more.append(el("div", {class: "field", "data-key": "scorer"}, el("label", {for: scorerId, text: "Scorer"}), scorer,
    el("small", {class: "help", text: "Ranks the candidates: " + schema.scorers.map(s => `${s.name}: ${s.description}`).join("; ")}),
    el("div", {class: "error", role: "alert"})), scorerOptions);
  if (schema.losses.length) more.append(lossFields());
}

// Losses, for generators that optimise (they declare `takes_losses`): each chosen loss with its
// weight and its declared options, sent as `losses.NAME.KEY` (what `--set` and a config file's
// [losses.NAME] take).
function lossFields() {
  const list = el("div", {class: "loss-list"});
  const picker = el("select", {class: "loss-picker", "aria-label": "loss to add"},
    schema.losses.map(l => el("option", {value: l.name, text: l.name, title: l.description})));
  const add = el("button", {type: "button", class: "add-loss", onclick: () => addLoss(list, picker.value), text: "add"});
  return el("fieldset", {class: "losses field", "data-key": "losses"}, el("legend", {text: "Losses"}),
    el("small", {class: "help", text: "Extra loss terms the generator optimises: " +
      schema.losses.map(l => `${l.name}: ${l.description}`).join("; ")}),
    el("div", {class: "error", role: "alert"}),  // first: the error of the losses as a whole
    list, el("div", {class: "add-row"}, picker, add));
}

function addLoss(list, name, weight = 1) {
  const loss = schema.losses.find(l => l.name === name);
  if (!loss || $(`.loss[data-loss="${name}"]`, list)) return $(`.loss[data-loss="${name}"]`, list);
  const weightField = optionField(`losses.${name}.weight`, {name: "weight", label: "Weight", type: "float", default: weight,
    help: `How much ${name} counts against the prompt; negative pushes away.`});
  delete $("input", weightField).dataset.default;  // always sent: it is what adds the loss
  const block = el("fieldset", {class: "loss", "data-loss": name}, el("legend", {text: name}), weightField,
    loss.options.map(option => optionField(`losses.${name}.${option.name}`, option)),
    el("button", {type: "button", class: "remove", onclick: () => { block.remove(); save(list.closest("form")); }, text: "remove"}));
  list.append(block);
  return block;
}

function generatorPicker(select, help, fill) {
  select.replaceChildren(...schema.generators.map(g => el("option", {value: g.name, text: `${g.name} (${g.plugin})`})));
  select.dataset.key = "generator";
  const update = () => {
    const generator = generatorOf(select.value);
    help.textContent = generator ? `${generator.description} Default size ${generator.default_size}.` : "";
    fill(select.value);
  };
  select.addEventListener("change", update);
  update();
}

// -- what the form holds, kept across reloads; the prompt history ---------------------------

function snapshot(form) {
  const values = {};
  for (const input of inputs(form)) if (!input.closest(".configuration")) values[input.dataset.key] = valueOf(input);
  const texts = Object.fromEntries($$("textarea[id]", form).map(area => [area.id, area.value]));
  const losses = $$(".loss", form).map(l => l.dataset.loss);
  const configurations = $$(".configuration", form).map(block => ({generator: $("select.generator-picker", block).value, fields: collect(block)}));
  return {values, texts, losses, configurations};
}

function save(form) {
  if (!form || !schema) return;
  try { localStorage.setItem(STORE + form.id, JSON.stringify(snapshot(form))); } catch (error) { /* storage full or off */ }
}

// The form as it was left (this browser's local storage), generator first: it decides the fields.
function restore(form) {
  let kept;
  try { kept = JSON.parse(localStorage.getItem(STORE + form.id) || "null"); } catch (error) { kept = null; }
  if (!kept) return;
  const values = kept.values || {};
  for (const [id, text] of Object.entries(kept.texts || {})) { const area = $(`#${CSS.escape(id)}`, form); if (area) area.value = text; }
  if (form.id === "compare-form" && kept.configurations && kept.configurations.length) {
    const list = $(".configurations", form);
    list.replaceChildren();
    for (const c of kept.configurations) {
      const block = addConfiguration(list, c.generator);
      for (const [key, value] of Object.entries(c.fields || {})) setField(block, key, value);
    }
  }
  if (values.generator && generatorOf(values.generator)) setField(form, "generator", values.generator);
  const losses = $(".loss-list", form);
  if (losses) for (const name of kept.losses || []) addLoss(losses, name);
  if (values.scorer !== undefined) setField(form, "scorer", values.scorer);
  for (const [key, value] of Object.entries(values)) if (key !== "generator" && key !== "scorer") setField(form, key, value);
}

function history() {
  try { return JSON.parse(localStorage.getItem(HISTORY) || "[]"); } catch (error) { return []; }
}

function remember(prompt, negative) {
  if (!prompt.trim()) return;
  const kept = [{prompt, negative}, ...history().filter(h => h.prompt !== prompt || h.negative !== negative)].slice(0, 30);
  try { localStorage.setItem(HISTORY, JSON.stringify(kept)); } catch (error) { /* storage full or off */ }
  showHistory();
}

function showHistory() {
  const select = $("#generate-form .history");
  select.replaceChildren(el("option", {value: "", text: "Recent prompts…"}),
    ...history().map((h, i) => el("option", {value: String(i), text: h.negative ? `${h.prompt}  (not: ${h.negative})` : h.prompt})));
}

// -- errors beside their fields -------------------------------------------------------------

function clearErrors(form) {
  for (const field of $$(".field", form)) field.classList.remove("invalid");
  for (const error of $$(".error", form)) error.textContent = "";
}

// The error beside the field it names, unfolded and scrolled into view.
function showError(form, data) {
  const field = data.field && $$(".field", form).find(f => f.dataset.key === data.field && $(".error", f));
  if (field) field.classList.add("invalid");
  const box = $(field ? ".error" : ".form-error", field || form);
  box.textContent = data.error;
  for (let folded = box.closest("details"); folded; folded = folded.parentElement.closest("details")) folded.open = true;
  box.scrollIntoView({block: "center"});
  const input = field && $("input:not([type=hidden]), select, textarea", field);
  if (input) input.focus({preventScroll: true});
}

// -- jobs and their live state ----------------------------------------------------------

const panels = {generate: "#generate-jobs", reproduce: "#generate-jobs", resume: "#generate-jobs", compare: "#compare-jobs"};
const followed = new Map();  // job id -> its EventSource

function imageFigure(image) {
  const path = image.url.replace(/^\/files\//, "");
  const score = image.score === null || image.score === undefined ? "" : ` · score ${Number(image.score).toFixed(4)}`;
  const caption = el("figcaption", {},
    el("div", {text: `#${image.rank}${score} · seed ${image.seed}`}),
    el("div", {class: "help", text: `${image.configuration}: ${image.prompt}`}),
    el("a", {href: image.url, download: path.split("/").pop(), class: "download", text: "download"}),
    el("button", {type: "button", class: "metadata", onclick: () => showMetadata(path), text: "metadata"}),
    el("button", {type: "button", class: "reproduce", onclick: () => reproduceImage(path), text: "reproduce"}),
    el("button", {type: "button", class: "use-settings", onclick: () => useSettings(path), text: "use these settings"}));
  return el("figure", {"data-path": path}, el("img", {src: image.url, alt: image.prompt, loading: "lazy",
    onclick: () => zoom(image.url, `#${image.rank} · seed ${image.seed} · ${image.prompt}`, path)}), caption);
}

function zoom(url, caption, path) {
  const box = $("#lightbox");
  $("img", box).src = url;
  $("img", box).alt = caption;
  $(".caption", box).textContent = caption;
  const download = $(".download", box);
  download.href = url;
  download.setAttribute("download", url.split("/").pop());
  $(".metadata", box).hidden = $(".use-settings", box).hidden = !path;
  $(".metadata", box).onclick = () => showMetadata(path);
  $(".use-settings", box).onclick = () => { box.close(); useSettings(path); };
  box.showModal();
}

async function showMetadata(path) {
  const {data} = await api(`/api/image?path=${encodeURIComponent(path)}`);
  const dialog = $("#details");
  $("pre", dialog).textContent = JSON.stringify(data.metadata || data, null, 2);
  dialog.showModal();
}

// A job's box: made once, its parts replaced only when they change (no flicker of images).
function jobBox(state) {
  const panel = $(panels[state.kind] || "#generate-jobs");
  let box = $$(".job", panel).find(b => b.dataset.job === state.id);
  if (!box) {
    box = el("div", {class: "job", "data-job": state.id},
      el("div", {class: "job-head"}, el("div", {class: "status"}), el("span", {class: "job-id", text: state.id.slice(0, 8), title: `job ${state.id}`}),
        el("button", {type: "button", class: "stop", text: "Stop", onclick: () => stopJob(state.id)})),
      el("div", {class: "progress"}), el("ul", {class: "warnings"}), el("div", {class: "error job-error"}),
      el("div", {class: "notes"}), el("div", {class: "preview"}), el("div", {class: "grid"}), el("div", {class: "images"}));
    const placeholder = $(".empty", panel);
    if (placeholder) placeholder.remove();
    const newer = $$(".job", panel).find(b => Number(b.dataset.created) < state.created);
    panel.insertBefore(box, newer || null);
  }
  box.dataset.created = state.created;
  return box;
}

function part(box, selector, key, build) {
  const node = $(selector, box);
  if (node.dataset.key === key) return;
  node.dataset.key = key;
  node.replaceChildren(...[build()].flat().filter(Boolean));
}

function renderJob(state) {
  const box = jobBox(state);
  const p = state.progress || {};
  const done = DONE.includes(state.status);
  box.dataset.status = state.status;
  $(".stop", box).disabled = done;
  $(".stop", box).hidden = done;
  let line = state.status;
  if (state.status === "queued") line += ` (position ${state.position} in the ${state.device} queue)`;
  if (state.status === "running" && !p.total) line += ": loading models…";
  const status = $(".status", box);
  status.className = `status ${state.status}`;
  status.dataset.status = state.status;
  status.textContent = `${state.title}: ${line}`;
  part(box, ".progress", `${state.status}|${p.step}|${p.total}|${p.label}`, () => {
    if (!(state.status === "running" || p.total)) return [];
    const rate = p.rate ? ` · ${p.rate.toFixed(p.rate < 10 ? 2 : 1)} steps/s` : "";
    const eta = p.eta_s !== null && p.eta_s !== undefined && !done ? ` · ETA ${Math.round(p.eta_s)} s` : "";
    return [el("progress", {max: p.total || 1, value: p.step || 0}),
      el("div", {class: "progress-text", text: `${p.label || ""} step ${p.step}/${p.total}${rate}${eta}`})];
  });
  part(box, ".warnings", JSON.stringify(state.warnings || []), () => (state.warnings || []).map(w => el("li", {text: w})));
  $(".job-error", box).textContent = state.error || "";
  part(box, ".notes", `${state.run}|${state.status}|${state.identical}`, () => [
    state.identical !== undefined ? el("div", {class: "reproduced", text: state.identical ? "identical to the original" : `different (largest pixel difference ${state.max_difference})`}) : null,
    state.run ? el("div", {class: "help run-name", text: `run folder: ${state.run}`}) : null,
    state.status === "interrupted" && state.run ? el("button", {type: "button", class: "resume", onclick: () => resumeRun(state.run, state.kind === "compare" ? "compare" : "generate"), text: "Resume this run"}) : null,
  ]);
  part(box, ".preview", done ? "" : state.preview || "", () => state.preview && !done
    ? [el("div", {class: "help", text: "preview"}), el("img", {src: state.preview, alt: "preview"})] : []);
  part(box, ".grid", state.grid || "", () => state.grid ? [
    el("img", {src: `${state.grid}?t=${state.status}`, alt: "comparison grid", onclick: () => zoom(state.grid, "comparison grid")}),
    el("a", {href: state.report, target: "_blank", text: "report (index.html)"})] : []);
  const images = state.images || [];
  part(box, ".images", images.map(i => i.url + i.rank).join("|"), () => images.map(i => imageFigure(i)));
  if (images.length) {
    const form = state.kind === "compare" ? $("#compare-form") : $("#generate-form");
    form.dataset.lastSeed = images[0].seed;
  }
}

// A job's box, kept current: streamed (server-sent events) while it runs; a waiting or finished
// one is updated by the job list (`sync`), so that many waiting jobs hold no connection open.
function follow(state) {
  if (followed.has(state.id)) return;
  renderJob(state);
  if (state.status !== "running") return;
  const events = new EventSource(`/api/jobs/${state.id}/events`);
  followed.set(state.id, events);
  events.onmessage = message => {
    const now = JSON.parse(message.data);
    renderJob(now);
    if (DONE.includes(now.status)) { events.close(); followed.delete(state.id); }
  };
  events.onerror = () => {  // the server went away; the job list says what became of the job
    events.close();
    followed.delete(state.id);
    sync();
  };
}

// The server's job list: after a reload (or in a second tab) every job is back, with its
// progress, previews and Stop. A box whose job the server no longer knows (it restarted) says so.
async function sync() {
  const {ok, data} = await api("/api/jobs");
  if (!ok) return;
  const known = new Set(data.jobs.map(job => job.id));
  for (const state of data.jobs.slice(0, 30).reverse()) follow(state);
  for (const box of $$(".job")) {
    if (known.has(box.dataset.job) || DONE.includes(box.dataset.status)) continue;
    box.dataset.status = "lost";
    const line = $(".status", box);
    line.className = "status lost";
    line.dataset.status = "lost";
    line.textContent += " — lost: the server restarted; any run folder it made is in the Gallery";
    $(".stop", box).hidden = true;
  }
}

async function stopJob(id) {
  const {ok, data} = await api(`/api/jobs/${id}/stop`, {});
  if (ok) renderJob(data);
}

// Planning loads the models, which the first run on a fresh server waits seconds for: said so.
async function submit(form, path, body) {
  clearErrors(form);
  const button = $("button.primary", form), busy = $(".busy", form);
  button.disabled = true;
  const began = Date.now();
  const say = () => { busy.textContent = `Checking the settings and loading the models… ${Math.round((Date.now() - began) / 1000)} s (the first run on a fresh server loads them)`; };
  say();
  busy.hidden = false;
  const ticker = setInterval(say, 1000);
  const {ok, data} = await api(path, body);
  clearInterval(ticker);
  busy.hidden = true;
  button.disabled = false;
  if (!ok) return showError(form, data);
  follow(data);
  return data;
}

async function resumeRun(run, view = "generate") {
  const form = view === "compare" ? $("#compare-form") : $("#generate-form");
  showView(view);
  $("#gallery-run").close();
  return submit(form, "/api/resume", {run});
}

async function reproduceImage(path) {
  showView("generate");
  $("#gallery-run").close();
  return submit($("#generate-form"), "/api/reproduce", {path});
}

// -- settings into the form: from an image of ours, or a PNG's parameters -----------------

// Parts weighted -1 are the negative prompt (`a cat|blurry:-1` -> prompt `a cat`, negative `blurry`).
function splitNegative(prompt) {
  const keep = [], negative = [];
  for (const piece of String(prompt || "").split("|")) {
    const match = piece.match(/^(.*):\s*(-1(?:\.0*)?)\s*$/s);
    if (match && match[1].trim()) negative.push(match[1].trim()); else keep.push(piece);
  }
  return {prompt: keep.join("|").trim(), negative: negative.join(" | ")};
}

function applyRecord(record) {
  const config = record.config || {};
  const form = $("#generate-form");
  showView("generate");
  $("#gallery-run").close();
  const parts = splitNegative(record.prompt);
  $("#generate-prompt").value = parts.prompt;
  $("#generate-negative").value = parts.negative;
  const generator = (config.generator || {}).name;
  if (generator && generatorOf(generator)) {
    const picker = $("#generate-generator");
    picker.value = generator;
    picker.dispatchEvent(new Event("change"));
  }
  if (record.seed !== undefined) setField(form, "seed", record.seed);
  setField(form, "size", config.size); setField(form, "device", config.device);
  if (config.scorer) setField(form, "scorer", config.scorer.name);
  for (const [table, values] of [["generator", config.generator], ["scorer", config.scorer]]) {
    for (const [name, value] of Object.entries(values || {})) if (name !== "name") setField(form, `${table}.${name}`, value);
  }
  const losses = $(".loss-list", form);
  if (losses) {
    losses.replaceChildren();
    for (const [name, spec] of Object.entries(config.losses || {})) {
      addLoss(losses, name);
      for (const [key, value] of Object.entries(spec || {})) setField(form, `losses.${name}.${key}`, value);
    }
  }
  save(form);
  $("#generate-prompt").scrollIntoView({block: "center"});
}

async function useSettings(path) {
  const {ok, data} = await api(`/api/image?path=${encodeURIComponent(path)}`);
  if (ok) applyRecord(data.metadata);
}

// PNG Info: the dropped PNG is uploaded (checked like any upload) and its metadata read by the
// engine: artengine's own record, or a webui `parameters` text read onto the chosen generator.
async function pngInfo(file) {
  const result = $("#generate-form .png-result");
  result.replaceChildren(el("div", {class: "busy", text: "Reading…"}));
  const uploaded = await upload(file);
  if (!uploaded.ok) return result.replaceChildren(el("div", {class: "error", text: uploaded.data.error}));
  const chosen = encodeURIComponent($("#generate-generator").value);
  const {ok, data} = await api(`/api/image?path=${encodeURIComponent(`uploads/${uploaded.data.id}`)}&generator=${chosen}`);
  if (!ok && !data.record) return result.replaceChildren(el("div", {class: "error", text: data.error}));
  const record = ok ? data.metadata : data.record, config = record.config || {};
  const parts = splitNegative(record.prompt);
  const rows = [["prompt", parts.prompt], ["negative prompt", parts.negative], ["seed", record.seed],
    ["generator", (config.generator || {}).name], ["size", config.size],
    ...Object.entries(config.generator || {}).filter(([k]) => k !== "name").map(([k, v]) => [(generatorOptionLabel(config.generator.name, k)), shown(v)])];
  result.replaceChildren(...[
    ok ? null : el("p", {class: "help", text: "A webui PNG: its parameters text, read onto the chosen generator's options."}),
    el("table", {class: "png-table"}, rows.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => el("tr", {}, el("th", {text: k}), el("td", {text: String(v)})))),
    ok ? null : el("details", {}, el("summary", {text: "parameters text"}), el("pre", {text: data.parameters})),
    el("button", {type: "button", class: "send-to-form", text: "Send to the form", onclick: () => applyRecord(record)}),
  ].filter(Boolean));
}

function generatorOptionLabel(generator, name) {
  const option = ((generatorOf(generator) || {}).options || []).find(o => o.name === name);
  return option ? option.label : name;
}

// -- views ---------------------------------------------------------------------------------

function showView(name) {
  for (const tab of $$(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  for (const view of $$(".view")) view.classList.toggle("active", view.id === `view-${name}`);
  if (name === "gallery") loadGallery();
  if (name === "models") loadModels();
}

function keepSaved(form) {
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(() => save(form), 200); };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
}

function setupGenerate() {
  const form = $("#generate-form");
  $(".prompt-help", form).textContent = schema.prompt_help;
  runFields(form, $(".run-basics", form), $(".run-options .options", form), {withScorer: true});
  generatorPicker($("#generate-generator"), $(".generator-help", form), name => fillGeneratorOptions(form, name));
  const go = () => {
    const prompt = $("#generate-prompt").value, negative = $("#generate-negative").value;
    submit(form, "/api/generate", {prompt, negative, fields: collect(form)}).then(job => { if (job) remember(prompt, negative); });
  };
  form.addEventListener("submit", event => { event.preventDefault(); go(); });
  form.addEventListener("keydown", event => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); go(); }
  });
  const historySelect = $(".history", form);
  historySelect.addEventListener("change", () => {
    const chosen = history()[Number(historySelect.value)];
    if (chosen) { $("#generate-prompt").value = chosen.prompt; $("#generate-negative").value = chosen.negative || ""; save(form); }
    historySelect.value = "";
  });
  showHistory();
  const png = $(".png-file", form);
  png.addEventListener("change", () => { if (png.files[0]) pngInfo(png.files[0]); png.value = ""; });
  dropTarget($(".png-info .dropzone", form), files => { if (files[0]) pngInfo(files[0]); });
  restore(form);
  keepSaved(form);
}

function addConfiguration(list, name) {
  const picker = el("select", {class: "generator-picker"});
  const help = el("small", {class: "help"});
  const options = el("details", {class: "generator-options"}, el("summary"), el("div", {class: "options"}));
  const block = el("div", {class: "configuration"},
    el("div", {class: "field", "data-key": "generator"}, el("label", {text: "Generator"}), picker, help,
      el("div", {class: "error", role: "alert"})),
    options, el("button", {type: "button", class: "remove", onclick: () => { block.remove(); save(list.closest("form")); }, text: "remove"}));
  list.append(block);
  generatorPicker(picker, help, generator => fillGeneratorOptions(block, generator));
  if (name && generatorOf(name)) { picker.value = name; picker.dispatchEvent(new Event("change")); }
  return block;
}

function setupCompare() {
  const form = $("#compare-form");
  runFields(form, $(".run-options .options", form), $(".run-options .options", form), {withScorer: false});
  const list = $(".configurations", form);
  $(".add-configuration", form).addEventListener("click", () => { addConfiguration(list); save(form); });
  addConfiguration(list);
  form.addEventListener("submit", event => {
    event.preventDefault();
    const shared = collect($(".run-options", form));
    const configurations = $$(".configuration", form).map(block => ({fields: collect(block)}));
    submit(form, "/api/compare", {prompt: $("#compare-prompt").value, negative: $("#compare-negative").value,
      fields: shared, configurations, axes: $("#compare-axes").value});
  });
  restore(form);
  keepSaved(form);
}

// -- the gallery: a page at a time, the next as it is scrolled to -------------------------

const gallery = {next: 0, loading: false, query: "", generator: "", generation: 0};

async function loadGallery(more = false) {
  if (more && (gallery.next === null || gallery.loading)) return;
  const generation = more ? gallery.generation : ++gallery.generation;
  if (!more) gallery.next = 0;
  gallery.loading = true;
  const query = $("#gallery-search").value, generator = $("#gallery-generator").value;
  const {ok, data} = await api(`/api/runs?q=${encodeURIComponent(query)}&generator=${encodeURIComponent(generator)}&offset=${gallery.next}`);
  gallery.loading = false;
  if (!ok || generation !== gallery.generation) return;
  const list = $("#gallery-list"), how = $("#gallery-how");
  const search = data.search;
  how.dataset.by = search ? search.by : "";
  how.textContent = !search ? "" : search.by === "clip"
    ? `Searched by CLIP in the index ${search.index} (${search.hits} best images; \`artengine index update\` adds newer runs).`
    : `Searched by prompt text (${search.note}).`;
  const picker = $("#gallery-generator");
  const chosen = picker.value;
  picker.replaceChildren(el("option", {value: "", text: "All generators"}), ...data.generators.map(g => el("option", {value: g, text: g})));
  picker.value = data.generators.includes(chosen) ? chosen : "";
  const cards = data.runs.map(run => el("div", {class: "run-card", "data-run": run.name, onclick: () => openRun(run.name)},
    run.thumb ? el("img", {src: run.thumb, alt: "", loading: "lazy"}) : null,
    el("div", {text: run.prompts.join(" / ")}),
    run.similarity !== undefined ? el("div", {class: "similarity", text: `similarity ${run.similarity.toFixed(3)}`}) : null,
    el("div", {class: "help", text: `${run.kind} · ${run.generators.join(", ")} · ${run.status} · ${run.images} image(s)`}),
    el("div", {class: "help", text: run.name})));
  if (more) list.append(...cards); else list.replaceChildren(...cards);
  if (!data.total) list.replaceChildren(el("p", {class: "help", text: query || generator ? "No run matches." : "No runs yet."}));
  gallery.next = data.next;
  $("#gallery-more").textContent = data.total ? `${$$(".run-card", list).length} of ${data.total} runs` : "";
}

async function openRun(name) {
  const {ok, data} = await api(`/api/runs/${encodeURIComponent(name)}`);
  const dialog = $("#gallery-run"), box = $(".body", dialog);
  if (!ok) { box.replaceChildren(el("p", {class: "error", text: data.error})); return dialog.showModal(); }
  const doc = data.document;
  const resume = doc.status === "interrupted" || doc.status === "failed"
    ? el("button", {type: "button", class: "resume", onclick: () => resumeRun(name, doc.kind === "compare" ? "compare" : "generate"), text: "Resume this run"}) : null;
  box.replaceChildren(...[
    el("h2", {text: name}),
    el("div", {class: `status ${doc.status}`, "data-status": doc.status, text: `${doc.kind}: ${doc.status}${doc.error ? ` (${doc.error})` : ""}`}),
    resume,
    data.files["grid.png"] ? el("div", {class: "grid"}, el("img", {src: data.files["grid.png"], alt: "grid", onclick: () => zoom(data.files["grid.png"], "grid")})) : null,
    data.files["index.html"] ? el("a", {href: data.files["index.html"], target: "_blank", text: "report (index.html)"}) : null,
    el("div", {class: "images"}, data.images.map(i => imageFigure(i))),
    el("details", {}, el("summary", {text: "run.json"}), el("pre", {text: JSON.stringify(doc, null, 2)})),
  ].filter(Boolean));
  if (!dialog.open) dialog.showModal();
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
  const answer = await api("/api/schema");
  if (!answer.ok) { setTimeout(start, 3000); return; }
  schema = answer.data;
  for (const tab of $$(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  setupGenerate();
  setupCompare();
  let timer = null;
  $("#gallery-search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => loadGallery(), 250); });
  $("#gallery-generator").addEventListener("change", () => loadGallery());
  $("#gallery-refresh").addEventListener("click", () => loadGallery());
  new IntersectionObserver(entries => { if (entries.some(e => e.isIntersecting)) loadGallery(true); }).observe($("#gallery-more"));
  await sync();
  setInterval(sync, 2000);  // the heartbeat: waiting jobs, jobs another tab started, a server gone
  document.body.dataset.ready = "true";
}

start();
