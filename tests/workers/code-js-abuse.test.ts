// The JavaScript/TypeScript abuse corpus (tests/fixtures/code-abuse/js.jsonl) through the real Worker.
import casesText from "../fixtures/code-abuse/js.jsonl?raw";
import { describeAbuseCorpus } from "./code-abuse";

describeAbuseCorpus("JavaScript", casesText);
