// The dashboard's widget preview frame: loads the real widget in preview mode for the project
// named in `?project=`; the widget then takes its settings from the dashboard by postMessage.
(() => {
  "use strict";
  const project = new URLSearchParams(location.search).get("project") || "";
  const script = document.createElement("script");
  script.src = "/widget.js";
  script.dataset.project = project;
  script.dataset.preview = "";
  document.body.append(script);
})();
