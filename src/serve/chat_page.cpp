// The chat page of `imp serve` (GET /): one HTML document with its style and script inline, so it works
// offline. It talks to the same /v1/chat/completions API as any client, with stream: true.
#include "imp/serve/server.h"

namespace imp::serve {

const std::string& chat_page_html() {
  static const std::string page = R"imp_html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>imp chat</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{background:#263238;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center}
header b{font-size:1.1em} #stats{margin-left:auto;font-size:.9em;opacity:.85}
main{max-width:52em;margin:0 auto;padding:1em}
#log{display:flex;flex-direction:column;gap:.6em;min-height:40vh}
.msg{padding:.6em .8em;border-radius:8px;white-space:pre-wrap;max-width:85%}
.user{background:#d7ebff;align-self:flex-end}.assistant{background:#fff;border:1px solid #ddd;align-self:flex-start}
.error{background:#ffe0e0;align-self:stretch}.msg img{max-width:12em;display:block;margin-bottom:.4em}
#drop{border:2px dashed #aaa;border-radius:8px;padding:.6em;margin:.8em 0;text-align:center;color:#666}
#drop.over{border-color:#1976d2;color:#1976d2}#preview{max-height:6em;vertical-align:middle;margin-left:.6em}
form{display:flex;gap:.5em}textarea{flex:1;font:inherit;padding:.5em;min-height:3em}
button{font:inherit;padding:.5em 1em}
</style></head><body>
<header><b>imp chat</b><span id="model">model: ?</span><span id="stats"></span></header>
<main>
<div id="log"></div>
<div id="drop">Drop an image here or <input type="file" id="file" accept="image/*"><img id="preview" hidden alt="">
<button type="button" id="clearimg" hidden>remove image</button></div>
<form id="form"><textarea id="text" placeholder="Ask about the image..."></textarea>
<button id="send" type="submit">Send</button><button id="stop" type="button" disabled>Stop</button>
<button id="reset" type="button">New chat</button></form>
<p><label>API key (if the server has one): <input id="key" type="password" size="24"></label></p>
</main>
<script>
"use strict";
const $ = id => document.getElementById(id);
let history = [], image = null, ctrl = null, model = "";
$("key").value = localStorage.getItem("imp_api_key") || "";
$("key").onchange = () => localStorage.setItem("imp_api_key", $("key").value);
function headers() {
  const h = {"Content-Type": "application/json"};
  if ($("key").value) h["Authorization"] = "Bearer " + $("key").value;
  return h;
}
fetch("/v1/models", {headers: headers()}).then(r => r.json()).then(j => {
  model = j.data[0].id; $("model").textContent = "model: " + model;
}).catch(() => {});
function add(role, text, img) {
  const d = document.createElement("div");
  d.className = "msg " + role;
  if (img) { const i = document.createElement("img"); i.src = img; d.appendChild(i); }
  const t = document.createElement("span"); t.textContent = text; d.appendChild(t);
  $("log").appendChild(d); d.scrollIntoView();
  return t;
}
function setImage(file) {
  if (!file) return;
  const r = new FileReader();
  r.onload = () => { image = r.result; $("preview").src = image; $("preview").hidden = false; $("clearimg").hidden = false; };
  r.readAsDataURL(file);
}
function clearImage() { image = null; $("preview").hidden = true; $("clearimg").hidden = true; $("file").value = ""; }
$("file").onchange = e => setImage(e.target.files[0]);
$("clearimg").onclick = clearImage;
const drop = $("drop");
drop.ondragover = e => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = e => { e.preventDefault(); drop.classList.remove("over"); setImage(e.dataTransfer.files[0]); };
$("reset").onclick = () => { history = []; $("log").innerHTML = ""; clearImage(); $("stats").textContent = ""; };
$("stop").onclick = () => { if (ctrl) ctrl.abort(); };
$("text").onkeydown = e => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("form").requestSubmit(); } };
$("form").onsubmit = async e => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text || ctrl) return;
  const content = image ? [{type: "image_url", image_url: {url: image}}, {type: "text", text}] : text;
  add("user", text, image);
  history.push({role: "user", content});
  $("text").value = ""; clearImage();
  const out = add("assistant", "");
  out.parentElement.id = "answer-" + history.length;
  ctrl = new AbortController(); $("stop").disabled = false; $("send").disabled = true;
  const t0 = performance.now(); let tokens = 0, answer = "", first = 0;
  try {
    const r = await fetch("/v1/chat/completions", {method: "POST", headers: headers(), signal: ctrl.signal,
      body: JSON.stringify({model, messages: history, stream: true, stream_options: {include_usage: true}})});
    if (!r.ok) { const j = await r.json(); throw new Error(j.error ? j.error.message : r.statusText); }
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += dec.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 2);
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") continue;
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message);
        if (j.usage) tokens = j.usage.completion_tokens;
        const c = j.choices && j.choices[0] && j.choices[0].delta && j.choices[0].delta.content;
        if (c) { if (!first) first = performance.now(); answer += c; out.textContent = answer; }
      }
    }
    const s = (performance.now() - t0) / 1000;
    $("stats").textContent = tokens + " tokens in " + s.toFixed(2) + " s, " + (tokens / s).toFixed(1) + " tokens/s";
    out.parentElement.classList.add("done");
  } catch (err) {
    if (err.name === "AbortError") { out.textContent = answer + " [stopped]"; out.parentElement.classList.add("done"); }
    else add("error", "error: " + err.message);
  }
  history.push({role: "assistant", content: answer});
  ctrl = null; $("stop").disabled = true; $("send").disabled = false;
};
</script></body></html>
)imp_html";
  return page;
}

}  // namespace imp::serve
