// searchsvc search box, made live: results as you type, completions under the box, the
// keyboard, and the address kept in sync (shareable, the back button works).
//
// Everything works without this script: the server renders results, filters, sort and
// pages from the address. Here, each pause in typing sends one request to /instant, which
// answers with the same results area rendered by the same template, and the completions;
// the previous request is aborted, and the results shown stay until new ones arrive. A busy
// server (503 with Retry-After) keeps them too and is asked again after the delay it gives.
// On the document page, which has no results area, only completions are asked for.
(function () {
  "use strict";

  var form = document.querySelector("form.search-form");
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  if (!form || !input || !list || !window.fetch || !window.AbortController) return;
  if (!window.history || !history.pushState || !window.URLSearchParams) return;

  var results = document.getElementById("results"); // none on the document page
  var liveStatus = document.getElementById("live-status");
  var busyLine = document.getElementById("busy");
  var instantUrl = form.dataset.instant;
  var pagePath = new URL(form.action, location.href).pathname;

  var PAUSE_MS = 90; // a pause in typing this long sends a request
  var LOADING_AFTER_MS = 150; // the loading bar shows only for slower answers
  var MAX_RETRIES = 5; // busy or unreachable server: tries before giving up
  var PARAMS = ["q", "page", "source", "date_from", "date_to", "sort"];
  var FILTERS = ["source", "date_from", "date_to", "sort"];
  var BUSY = "Serveur occupé, nouvel essai…";
  var UNREACHABLE = "Le serveur ne répond pas, nouvel essai…";
  var FAILED = "La recherche n’a pas abouti : réessayez dans un instant.";

  var shown = stateFrom(location.search); // the state the results area shows
  var typingEntry = false; // the history entry was made by typing: replace it, don't stack
  var pauseTimer = 0;
  var loadingTimer = 0;
  var retryTimer = 0;
  var controller = null;
  var seq = 0;
  var options = []; // current completions
  var active = -1; // index of the highlighted completion

  // -- state and addresses ----------------------------------------------------------------

  function stateFrom(search) {
    var params = new URLSearchParams(search);
    var state = {};
    PARAMS.forEach(function (name) {
      var value = params.get(name);
      if (value) state[name] = value;
    });
    if (!/^[0-9]{1,6}$/.test(state.page || "") || state.page === "1") delete state.page;
    return state;
  }

  function with_(state, changes) {
    var next = {};
    PARAMS.forEach(function (name) {
      var value = name in changes ? changes[name] : state[name];
      if (value) next[name] = value;
    });
    return next;
  }

  function same(a, b) {
    return PARAMS.every(function (name) {
      return (a[name] || "") === (b[name] || "");
    });
  }

  // -- the combobox -----------------------------------------------------------------------

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  if (results) {
    results.setAttribute("tabindex", "-1");
    history.replaceState({ searchsvc: shown }, "", location.href);
  }

  function closeList() {
    list.hidden = true;
    list.replaceChildren();
    options = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    var items = list.children;
    for (var i = 0; i < items.length; i++) {
      items[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    active = index;
    if (index >= 0 && items[index]) {
      input.setAttribute("aria-activedescendant", items[index].id);
      items[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function fold(ch) {
    return ch.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  // How much of a completion is what was typed (accents and case aside): the rest is bold.
  function typedLength(completion, typed) {
    typed = typed.replace(/\s+/g, " ").replace(/^ /, "");
    var n = 0;
    while (n < completion.length && n < typed.length && fold(completion[n]) === fold(typed[n])) n++;
    return n;
  }

  function showOptions(words) {
    closeList();
    var typed = input.value;
    var plain = typed.replace(/\s+/g, " ").trim();
    words = words.filter(function (w) {
      return w !== plain;
    });
    if (!words.length || document.activeElement !== input) return;
    words.forEach(function (word, i) {
      var li = document.createElement("li");
      li.id = "suggestion-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      var n = typedLength(word, typed);
      if (n) li.append(word.slice(0, n));
      if (n < word.length) {
        var rest = document.createElement("strong");
        rest.textContent = word.slice(n);
        li.append(rest);
      }
      li.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep the focus in the box
      });
      li.addEventListener("click", function () {
        choose(word);
      });
      list.appendChild(li);
    });
    options = words;
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function choose(word) {
    input.value = word;
    closeList();
    commit();
  }

  // -- answers ----------------------------------------------------------------------------

  function announce(text) {
    if (liveStatus) liveStatus.textContent = text;
  }

  function setBusy(text, isError) {
    if (!busyLine) return;
    busyLine.textContent = text || "";
    busyLine.hidden = !text;
    busyLine.classList.toggle("error", !!isError);
    if (text) announce(text);
  }

  function setLoading(on) {
    clearTimeout(loadingTimer);
    if (!on) {
      form.classList.remove("is-loading");
      if (results) results.removeAttribute("aria-busy");
      return;
    }
    loadingTimer = setTimeout(function () {
      form.classList.add("is-loading");
      if (results) results.setAttribute("aria-busy", "true");
    }, LOADING_AFTER_MS);
  }

  function syncHiddenInputs(state) {
    Array.prototype.slice.call(form.querySelectorAll("input[type=hidden]")).forEach(function (el) {
      el.remove();
    });
    FILTERS.forEach(function (name) {
      if (!state[name]) return;
      var el = document.createElement("input");
      el.type = "hidden";
      el.name = name;
      el.value = state[name];
      form.appendChild(el);
    });
  }

  // The server's own words for an error page it answered with (HTML).
  function serverMessage(html) {
    try {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var p = doc.querySelector(".error-page p");
      return p ? p.textContent.trim() : "";
    } catch (e) {
      return "";
    }
  }

  function render(data, state, how) {
    var template = document.createElement("template");
    template.innerHTML = data.html; // the server's template: escaped text, its own markup
    results.replaceChildren(template.content);
    shown = state;
    document.title = data.title;
    syncHiddenInputs(state);
    if (how.history === "push") history.pushState({ searchsvc: state }, "", data.url);
    else if (how.history === "replace") history.replaceState({ searchsvc: state }, "", data.url);
    var summary = document.getElementById("summary");
    announce(summary ? summary.textContent.trim() : "");
    openFiltersOnWideScreens();
    if (how.focus) restoreFocus(how.focus);
  }

  // The filters' column is always open on a wide screen; the style sheet does it where the
  // browser can style a closed <details> (::details-content), this does it elsewhere.
  function openFiltersOnWideScreens() {
    if (!results || !window.matchMedia || !window.matchMedia("(min-width: 60rem)").matches) return;
    if (window.CSS && CSS.supports && CSS.supports("selector(::details-content)")) return;
    results.querySelectorAll("details.refine-box").forEach(function (details) {
      details.open = true;
    });
  }

  // After a click on a link of the results area, put the focus where the reader was: the
  // same filter group, the sort line, or the results' start (a new page).
  function restoreFocus(where) {
    var target = null;
    if (where !== "results") {
      var box = results.querySelector(where);
      if (box) target = box.querySelector("a[href]") || box;
      var details = target && target.closest("details");
      if (details) details.open = true;
    }
    if (!target || target === results) {
      results.focus({ preventScroll: true });
      if (results.getBoundingClientRect().top < 0) results.scrollIntoView({ block: "start" });
      return;
    }
    target.focus({ preventScroll: false });
  }

  // Ask /instant for `state`. how: typing (the last word is a prefix), complete (completions
  // too), history ("push", "replace" or "none"), focus (where to put it afterwards).
  function load(state, how, attempt) {
    attempt = attempt || 0;
    if (controller) controller.abort();
    clearTimeout(retryTimer);
    var mine = ++seq;
    controller = new AbortController();
    var params = new URLSearchParams();
    PARAMS.forEach(function (name) {
      if (state[name]) params.set(name, state[name]);
    });
    if (how.typing) params.set("typing", "1");
    if (how.complete) params.set("complete", "1");
    if (!results) params.set("results", "0");
    setLoading(true);

    function retry(text, seconds) {
      if (attempt >= MAX_RETRIES) {
        setBusy(text === BUSY ? "Le service est très sollicité : réessayez dans un instant." : FAILED, true);
        return;
      }
      setBusy(text);
      retryTimer = setTimeout(function () {
        if (mine === seq) load(state, how, attempt + 1);
      }, seconds * 1000);
    }

    return fetch(instantUrl + "?" + params, {
      signal: controller.signal,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (response.status === 503 && response.headers.get("Retry-After") && !json) {
          // Shed by the server: nothing is wrong with the search, and the results stay.
          var seconds = parseInt(response.headers.get("Retry-After"), 10);
          if (!(seconds >= 1)) seconds = 1;
          if (mine === seq) retry(BUSY, Math.min(seconds, 10));
          return null;
        }
        if (!json) {
          return response.text().then(function (html) {
            if (mine !== seq) return;
            closeList();
            setBusy(serverMessage(html) || FAILED, true);
          });
        }
        return response.json().then(function (data) {
          if (mine !== seq) return;
          setBusy("");
          if (results) render(data, state, how);
          if (response.ok && how.complete && input.value === (state.q || "")) {
            showOptions(data.completions || []);
          } else {
            closeList(); // an error is never hidden under the list
          }
        });
      })
      .catch(function (err) {
        if (err && err.name === "AbortError") return;
        if (mine === seq) retry(UNREACHABLE, 2);
      })
      .finally(function () {
        if (mine === seq) setLoading(false);
      });
  }

  // A deliberate search (Enter, a completion chosen): the words are searched as typed, with
  // corrections; it completes the entry typing made, or gets its own.
  function commit() {
    clearTimeout(pauseTimer);
    if (!results) {
      form.submit();
      return;
    }
    var state = with_(shown, { q: input.value, page: "" });
    var history_ = typingEntry ? "replace" : same(state, shown) ? "none" : "push";
    typingEntry = false;
    load(state, { history: history_ });
  }

  // -- events -----------------------------------------------------------------------------

  input.addEventListener("input", function () {
    clearTimeout(pauseTimer);
    clearTimeout(retryTimer);
    if (!input.value.trim()) closeList();
    pauseTimer = setTimeout(function () {
      var q = input.value;
      if (!results) {
        if (q.trim()) load({ q: q }, { typing: true, complete: true, history: "none" });
        return;
      }
      var state = with_(shown, { q: q, page: "" });
      if (same(state, shown) && !q.trim()) return;
      var how = { typing: true, complete: !!q.trim(), history: typingEntry ? "replace" : "push" };
      typingEntry = true;
      load(state, how);
    }, PAUSE_MS);
  });

  input.addEventListener("keydown", function (event) {
    var open = !list.hidden && options.length > 0;
    if (event.key === "ArrowDown" || event.key === "Down") {
      if (!open) return;
      event.preventDefault();
      highlight(active + 1 >= options.length ? 0 : active + 1);
    } else if (event.key === "ArrowUp" || event.key === "Up") {
      if (!open) return;
      event.preventDefault();
      highlight(active <= 0 ? options.length - 1 : active - 1);
    } else if (event.key === "Enter") {
      if (open && active >= 0) {
        event.preventDefault();
        choose(options[active]);
      }
    } else if (event.key === "Escape" || event.key === "Esc") {
      if (open) {
        event.preventDefault();
        closeList();
      }
    } else if (event.key === "Tab") {
      closeList();
    }
  });

  input.addEventListener("blur", closeList);

  form.addEventListener("submit", function (event) {
    closeList();
    if (!results) return; // the document page: go to the results page
    event.preventDefault();
    commit();
  });

  if (!results) return;
  openFiltersOnWideScreens();

  // Pages, filters, sort and "Vouliez-vous dire": same page, new results, new history entry.
  results.addEventListener("click", function (event) {
    var link = event.target.closest("a[href]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    if (event.altKey) return;
    var url = new URL(link.href, location.href);
    if (url.origin !== location.origin || url.pathname !== pagePath) return;
    event.preventDefault();
    var state = stateFrom(url.search);
    var group = link.closest("section.facet, .sort");
    var focus = "results";
    if (group && group.matches(".sort")) focus = ".sort";
    else if (group) focus = "#" + group.id;
    input.value = state.q || "";
    closeList();
    clearTimeout(pauseTimer);
    typingEntry = false;
    load(state, { history: same(state, shown) ? "none" : "push", focus: focus });
  });

  window.addEventListener("popstate", function (event) {
    var state = (event.state && event.state.searchsvc) || stateFrom(location.search);
    clearTimeout(pauseTimer);
    closeList();
    typingEntry = false;
    input.value = state.q || "";
    if (!same(state, shown)) load(state, { history: "none" });
  });
})();
