/**
 * The one script of the conversation page, served from the binary at
 * {@link CONVERSATION_STREAM_SCRIPT_PATH} and loaded with the response's CSP nonce. For each
 * agent message still being written (`[data-stream-url]`), it follows the message's event
 * stream (EventSource: cookies, same origin; a dropped connection resumes with
 * `Last-Event-ID`), writes the answer as it comes, names the tool being called, and reloads
 * the page once the message ended so the server renders the final state (actions, errors).
 * Without JavaScript the page says the answer is being written and offers a reload link.
 * Plain ES2017, no dependencies; text is set with `textContent`, never parsed as HTML.
 * @module
 */

export const CONVERSATION_STREAM_SCRIPT_PATH = "/static/console/conversation_stream.js";

export const CONVERSATION_STREAM_JS = `"use strict";
(function () {
  var TERMINAL = {
    agent_message_success: 1,
    agent_error: 1,
    agent_generation_cancelled: 1,
    agent_message_gracefully_stopped: 1
  };
  var reloading = false;
  function reload() {
    if (reloading) return;
    reloading = true;
    window.location.reload();
  }
  function follow(el) {
    var out = el.querySelector("[data-stream-text]");
    var status = el.querySelector("[data-stream-status]");
    var text = "";
    var source = new EventSource(el.getAttribute("data-stream-url"));
    el.setAttribute("data-streaming", "1");
    source.onmessage = function (ev) {
      if (ev.data === "done") {
        source.close();
        reload();
        return;
      }
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      var d = (frame && frame.data) || {};
      if (d.type === "generation_tokens" && typeof d.text === "string") {
        text += d.text;
        if (out) out.textContent = text;
      } else if (d.type === "tool_params" && status) {
        var name = d.action && d.action.functionCallName;
        status.textContent = "Calling " + (name || "a tool") + "…";
      } else if ((d.type === "agent_action_success" || d.type === "tool_error") && status) {
        status.textContent = "Writing…";
      }
      if (TERMINAL[d.type]) {
        source.close();
        el.setAttribute("data-streaming", "0");
        reload();
      }
    };
  }
  var nodes = document.querySelectorAll("[data-stream-url]");
  for (var i = 0; i < nodes.length; i++) follow(nodes[i]);
})();
`;
