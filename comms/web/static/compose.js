// comms: live counts on the compose page. The server counts (POST /compose/count), so the
// numbers are exactly the channel's and the lint's; without this script "Tjek teksten" does it.
// It also shows the "own text" tabs only for the chosen channels, one open at a time.
"use strict";
(function () {
  const form = document.getElementById("compose-form");
  if (!form) return;
  const text = form.querySelector("#text");
  const variants = Array.from(form.querySelectorAll("details.variant"));
  let timer = null;
  let sequence = 0;

  function danish(number) {
    return number.toLocaleString("da-DK"); // 63.206, as the pages write numbers
  }

  function chosen() {
    return Array.from(form.querySelectorAll("input[name=channel]:checked")).map((box) => box.value);
  }

  function byChannel(selector, name) {
    return form.querySelector(`${selector}="${CSS.escape(name)}"]`);
  }

  function showTabs() {
    const names = chosen();
    variants.forEach((box) => { box.hidden = !names.includes(box.dataset.variantFor); });
    form.querySelector("#variants").hidden = names.length === 0;
  }

  function show(results) {
    form.querySelectorAll(".count").forEach((out) => { out.textContent = ""; out.className = "count"; });
    results.forEach((r) => {
      const numbers = r.limit ? `${danish(r.length)} / ${danish(r.limit)}` : danish(r.length);
      [byChannel("output[data-count-for", r.channel), byChannel("span[data-variant-count-for", r.channel)]
        .forEach((out) => {
          if (!out) return;
          out.textContent = numbers;
          if (r.too_long) out.classList.add("over");
          out.title = r.problems.join(" ");
        });
      const line = byChannel("p[data-problems-for", r.channel);
      if (line) {
        const whose = r.variant ? "egen tekst" : "teksten ovenfor";
        const found = r.problems.concat(r.warnings.map((w) => "Råd: " + w));
        line.textContent = `${numbers} tegn (${whose})${found.length ? ": " + found.join(" ") : ""}`;
        line.classList.toggle("problem", r.problems.length > 0);
      }
    });
  }

  async function update() {
    const mine = ++sequence;
    const body = new FormData();
    body.append("csrf_token", form.querySelector("input[name=csrf_token]").value);
    body.append("text", text.value);
    body.append("title", form.querySelector("#title").value);
    chosen().forEach((name) => body.append("channel", name));
    form.querySelectorAll("textarea.variant-text").forEach((area) => body.append(area.name, area.value));
    if (!chosen().length) { show([]); return; }
    const response = await fetch("/compose/count", { method: "POST", body, credentials: "same-origin" });
    if (!response.ok || mine !== sequence) return;
    show(await response.json());
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  }

  variants.forEach((box) => box.addEventListener("toggle", () => {
    if (box.open) variants.forEach((other) => { if (other !== box) other.open = false; });
  }));
  text.addEventListener("input", later);
  form.querySelector("#title").addEventListener("input", later);
  form.querySelectorAll("textarea.variant-text").forEach((area) => area.addEventListener("input", later));
  form.querySelectorAll("input[name=channel]").forEach((box) => box.addEventListener("change", () => {
    showTabs();
    later();
  }));
  showTabs();
  later();
})();
