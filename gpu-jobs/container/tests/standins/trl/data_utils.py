"""trl/data_utils.py at v0.20.0: is_conversational (line 31), apply_chat_template (line 72) and
maybe_apply_chat_template (line 168), with the branches the trainers reach: a prompt whose last role is
neither user nor assistant raises "Invalid role in the last message" (line 109); the chat template is applied
through the tokenizer, which raises when it has none."""

from __future__ import annotations

from typing import Any, Dict


def is_conversational(example: Dict[str, Any]) -> bool:
    supported_keys = ["prompt", "chosen", "rejected", "completion", "messages"]
    example_keys = {key for key in example.keys() if key in supported_keys}
    if example_keys:
        key = example_keys.pop()
        maybe_messages = example[key]
        if isinstance(maybe_messages, list):
            maybe_message = maybe_messages[0]
            if isinstance(maybe_message, dict) and "role" in maybe_message and "content" in maybe_message:
                return True
    return False


def apply_chat_template(example: Dict[str, Any], tokenizer: Any, tools: Any = None) -> Dict[str, Any]:
    supported_keys = ["prompt", "chosen", "rejected", "completion", "messages", "label"]
    example_keys = {key for key in example.keys() if key in supported_keys}
    if example_keys not in [
        {"messages"},
        {"prompt"},
        {"prompt", "completion"},
        {"prompt", "chosen", "rejected"},
        {"chosen", "rejected"},
        {"prompt", "completion", "label"},
    ]:
        raise KeyError(f"Invalid keys in the example: {example_keys}")
    output: Dict[str, Any] = {}
    if "messages" in example:
        output["text"] = tokenizer.apply_chat_template(example["messages"], tools=tools, tokenize=False)
    if "prompt" in example:
        last_role = example["prompt"][-1]["role"]
        if last_role == "user":
            add_generation_prompt, continue_final_message = True, False
        elif last_role == "assistant":
            add_generation_prompt, continue_final_message = False, True
        else:
            raise ValueError(f"Invalid role in the last message: {last_role}")
        prompt = tokenizer.apply_chat_template(
            example["prompt"],
            tools=tools,
            continue_final_message=continue_final_message,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
        )
        output["prompt"] = prompt
        for key in ("chosen", "rejected", "completion"):
            if key in example:
                whole = tokenizer.apply_chat_template(example["prompt"] + example[key], tools=tools, tokenize=False)
                common = 0
                while common < min(len(prompt), len(whole)) and prompt[common] == whole[common]:
                    common += 1
                output[key] = whole[common:]
    if "label" in example:
        output["label"] = example["label"]
    return output


def maybe_apply_chat_template(example: Dict[str, Any], tokenizer: Any, tools: Any = None) -> Dict[str, Any]:
    if is_conversational(example):
        return apply_chat_template(example, tokenizer, tools)
    return example


def maybe_extract_prompt(example: Dict[str, Any]) -> Dict[str, Any]:
    if "chosen" not in example or "rejected" not in example or "prompt" in example:
        return example
    raise NotImplementedError("the stand-in only takes explicit prompts")
