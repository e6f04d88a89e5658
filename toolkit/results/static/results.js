// Results page: name the report shown in the viewer below the tables. (Sorting: sortable-tablesort.)
document.addEventListener("click", function (event) {
  var link = event.target.closest("a.report");
  if (!link) return;
  var row = link.closest("tr");
  var spec = link.closest("section.spec");
  var title = document.getElementById("viewer-title");
  title.textContent = [spec && spec.dataset.spec, row && row.dataset.group, link.textContent].filter(Boolean).join(" · ");
  document.getElementById("report-view").scrollIntoView({behavior: "smooth", block: "start"});
});
