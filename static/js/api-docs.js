// Browsable API page: Swagger UI served from the project (no CDN).
(function () {
  var spec = document.currentScript.getAttribute("data-spec");
  window.SwaggerUIBundle({ url: spec, dom_id: "#swagger-ui", deepLinking: true });
})();
