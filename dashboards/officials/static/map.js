// The officials' map: assets (circles) and open alerts (triangles marked "!"), no tile layer.
(function () {
  "use strict";
  var box = document.getElementById("carte");
  var data = JSON.parse(document.getElementById("carte-donnees").textContent);
  if (!window.L || !box) { return; }
  var map = L.map(box, { zoomSnap: 0.25, attributionControl: false });
  var bounds = data.devices.concat(data.alerts).map(function (p) { return [p.lat, p.lon]; });
  // The view first: a marker gets its element only on a map that has one.
  if (bounds.length) {
    map.fitBounds(bounds, { padding: [30, 30], maxZoom: 15 });
  } else {
    map.setView([46.6, 2.4], 5);
    box.insertAdjacentHTML("beforeend", "<p class='vide'>Aucun équipement localisé.</p>");
  }
  data.devices.forEach(function (d) {
    L.circleMarker([d.lat, d.lon], { radius: 6, weight: 2, color: "#1b3a5c",
      fillColor: "#ffffff", fillOpacity: 1 }).addTo(map).bindTooltip(d.name + " (" + d.kind + ")");
  });
  var icon = L.divIcon({ className: "alerte-icone", html: "<span>!</span>",
    iconSize: [22, 20], iconAnchor: [11, 28] });  // above its device's circle
  data.alerts.forEach(function (a) {
    var m = L.marker([a.lat, a.lon], { icon: icon,
      title: "Alerte " + a.type + " : " + a.device + ", " + a.status }).addTo(map);
    // A div icon has no alt: its text alternative is an aria-label.
    m.getElement().setAttribute("aria-label", "Alerte " + a.type + " (" + a.status + ")");
  });
  L.control.scale({ imperial: false }).addTo(map);
})();
