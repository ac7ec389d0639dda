// The dashboard's client islands: the server renders each page's shell with data-page and data-id on
// <main>; this fills it from the /v1 API.
import "./dashboard.css";
import { h, replace } from "./dom";
import { feedbackPage } from "./feedback-page";
import { datasetPage, datasetsPage, experimentPage, experimentsPage, sweepPage } from "./list-pages";
import { playgroundPage } from "./playground";
import { runPage } from "./run-page";

async function start() {
  const main = document.getElementById("main");
  if (!main) return;
  const id = main.dataset.id ?? "";
  try {
    switch (main.dataset.page) {
      case "experiments":
        return await experimentsPage(main);
      case "experiment":
        return await experimentPage(main, id);
      case "run":
        return await runPage(main, id);
      case "sweep":
        return await sweepPage(main, id);
      case "datasets":
        return await datasetsPage(main);
      case "dataset":
        return await datasetPage(main, id);
      case "playground":
        return playgroundPage(main);
      case "feedback":
        return await feedbackPage(main);
    }
  } catch (err) {
    replace(
      main,
      h("h1", {}, "Could not load this page"),
      h("p", { class: "error", role: "alert" }, (err as Error).message),
    );
    main.dataset.ready = "error";
  }
}

void start();
