// The Python abuse corpus (tests/fixtures/code-abuse/python.jsonl) through the real Worker; the sandbox
// abort case is followed by a case that must still pass.
import casesText from "../fixtures/code-abuse/python.jsonl?raw";
import { describeAbuseCorpus } from "./code-abuse";

describeAbuseCorpus("Python", casesText);
