// `--import` this file to let Node (and tsx) import data files the way workerd does; see node-data-hooks.mjs.
import { register } from "node:module";

register("./node-data-hooks.mjs", import.meta.url);
