// comms: live counts on the compose page. The server counts (POST /compose/count), so the
// numbers are exactly the channel's and the lint's; without this script "Tjek teksten" does it.
"use strict";
(function () {
  const form = document.getElementById("compose-form");
  if (!form) return;
  const text = form.querySelector("#text");
  let timer = null;
  let sequence = 0;

  function chosen() {
    return Array.from(form.querySelectorAll("input[name=channel]:checked")).map((box) => box.value);
  }

  function show(results) {
    form.querySelectorAll("output.count").forEach((out) => { out.textContent = ""; out.className = "count"; });
    results.forEach((r) => {
      const out = form.querySelector(`output[data-count-for="${CSS.escape(r.channel)}"]`);
      if (!out) return;
      out.textContent = r.limit ? `${r.length} / ${r.limit}` : `${r.length}`;
      if (r.too_long) out.classList.add("over");
      if (r.problems.length) out.title = r.problems.join(" ");
    });
  }

  async function update() {
    const mine = ++sequence;
    const body = new FormData();
    body.append("csrf_token", form.querySelector("input[name=csrf_token]").value);
    body.append("text", text.value);
    body.append("title", form.querySelector("#title").value);
    chosen().forEach((name) => body.append("channel", name));
    if (!chosen().length) { show([]); return; }
    const response = await fetch("/compose/count", { method: "POST", body, credentials: "same-origin" });
    if (!response.ok || mine !== sequence) return;
    show(await response.json());
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  }

  text.addEventListener("input", later);
  form.querySelector("#title").addEventListener("input", later);
  form.querySelectorAll("input[name=channel]").forEach((box) => box.addEventListener("change", later));
  later();
})();
