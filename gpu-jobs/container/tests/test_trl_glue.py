"""The GPU trainer: its TRL-free pieces (sample mapping, invalid handling, KPI names, config, stop hooks), and
trl_trainer.py run end to end against the platform double with the TRL stand-ins of tests/standins.

TRL, torch and transformers are not installed on the development machines or in CI. The stand-ins reproduce what
TRL 0.20.0 and transformers do at the points where a real run went wrong (each names the source line it follows),
so these tests fail the way a GPU run would; without the stand-ins, trl_trainer.py must fail the run with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = os.path.join(HERE, "..")
sys.path.insert(0, CONTAINER)
sys.path.insert(0, HERE)

from assay_client import AssayClient  # noqa: E402
from http_double import PlatformDouble  # noqa: E402
from standin_run import of, rows_with_answers, run_with_standins  # noqa: E402
from trl_glue import (  # noqa: E402
    ITEM_COLUMN,
    MAX_GENERATION_BATCH,
    MAX_MICRO_BATCH,
    StepHooks,
    completion_text,
    grpo_batch_layout,
    grpo_config_kwargs,
    plan_steps,
    precision_kwargs,
    schedule_kwargs,
    kpi_points,
    lora_config_kwargs,
    reward_step,
    rewards_for_trl,
    samples_from_trl,
    to_trl_row,
)

ROW_A = {"prompt": "2+2?", "answer": "4", "meta": {"source": "x"}}
ROW_B = {"question": "Capital of France?", "answer": "Paris"}


class Samples(unittest.TestCase):
    def test_without_a_chat_template_a_message_list_becomes_text_and_with_one_it_must_end_with_user_or_assistant(self):
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        self.assertEqual(to_trl_row({"prompt": messages}, chat=False)["prompt"], "Be brief.\n\nHi")
        self.assertEqual(to_trl_row({"prompt": "Hi"}, chat=False)["prompt"], "Hi")
        continued = messages + [{"role": "assistant", "content": "Sure:"}]
        self.assertEqual(to_trl_row({"prompt": continued})["prompt"], continued)
        with self.assertRaisesRegex(ValueError, "row 7: .*'system'"):
            to_trl_row({"prompt": messages + [{"role": "system", "content": "x"}]}, index=7)

    def test_a_row_becomes_a_chat_prompt_and_keeps_the_whole_row(self):
        self.assertEqual(
            to_trl_row(ROW_A),
            {"prompt": [{"role": "user", "content": "2+2?"}], ITEM_COLUMN: json.dumps(ROW_A, sort_keys=True, separators=(",", ":"))},
        )
        self.assertEqual(to_trl_row(ROW_B, chat=False)["prompt"], "Capital of France?")
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        self.assertEqual(to_trl_row({"prompt": messages})["prompt"], messages)
        with self.assertRaises(ValueError):
            to_trl_row({"answer": "no prompt"})

    def test_trl_arguments_map_to_samples_with_the_row_as_item_and_the_prompt_index_as_group(self):
        rows = [to_trl_row(ROW_A), to_trl_row(ROW_B)]
        completions = [
            [{"role": "assistant", "content": "4"}],
            [{"role": "assistant", "content": "5"}],
            [{"role": "assistant", "content": "Paris"}],
            "Lyon",
        ]
        kwargs = {ITEM_COLUMN: [rows[0][ITEM_COLUMN]] * 2 + [rows[1][ITEM_COLUMN]] * 2, "trainer_state": None}
        self.assertEqual(
            samples_from_trl(completions, kwargs, 2),
            [
                {"completion": "4", "item": ROW_A, "group": 0},
                {"completion": "5", "item": ROW_A, "group": 0},
                {"completion": "Paris", "item": ROW_B, "group": 1},
                {"completion": "Lyon", "item": ROW_B, "group": 1},
            ],
        )
        with self.assertRaises(ValueError):
            samples_from_trl(completions, {ITEM_COLUMN: kwargs[ITEM_COLUMN][:3]}, 2)

    def test_completion_text_reads_strings_messages_and_single_messages(self):
        self.assertEqual(completion_text("x"), "x")
        self.assertEqual(completion_text([{"role": "assistant", "content": "a"}, {"content": "b"}]), "ab")
        self.assertEqual(completion_text({"content": "c"}), "c")


class Rewards(unittest.TestCase):
    def test_an_invalid_result_gets_its_groups_valid_mean_so_its_advantage_is_zero(self):
        samples = [{"group": 0}, {"group": 0}, {"group": 0}, {"group": 1}, {"group": 1}]
        results = [
            {"score": 1.0, "valid": True},
            {"score": 0.0, "valid": False, "error": {"code": "TIMEOUT", "message": "slow"}},
            {"score": 0.5, "valid": True},
            {"score": 0.0, "valid": False},
            {"score": 0.9, "valid": False},
        ]
        rewards = rewards_for_trl(results, samples)
        self.assertEqual(rewards, [1.0, 0.75, 0.5, 0.0, 0.0])
        group0 = rewards[:3]
        self.assertAlmostEqual(rewards[1] - sum(group0) / 3, 0.0)

    def test_a_result_count_mismatch_is_refused(self):
        with self.assertRaises(ValueError):
            rewards_for_trl([{"score": 1, "valid": True}], [])


class Kpis(unittest.TestCase):
    def test_trl_log_keys_become_metric_points_that_never_collide_with_the_platforms(self):
        logs = {
            "loss": 0.12,
            "grad_norm": 1.5,
            "learning_rate": 1e-5,
            "reward": 0.4,
            "reward_std": 0.2,
            "frac_reward_zero_std": 0.25,
            "rewards/assay/mean": 0.4,
            "rewards/assay/std": 0.2,
            "kl": 0.003,
            "completions/mean_length": 41.5,
            "clip_ratio/region_mean": 0.0,
            "entropy": float("nan"),
            "epoch": 0.5,
            "num_tokens": 1024,
            "note": "text",
            "flag": True,
            "weird key (x)": 1,
            "reward/mean": 0.9,
            "train_runtime": 12.5,
        }
        self.assertEqual(
            kpi_points(logs, 7),
            [
                {"name": "clip_ratio/region_mean", "step": 7, "value": 0.0},
                {"name": "completions/mean_length", "step": 7, "value": 41.5},
                {"name": "epoch", "step": 7, "value": 0.5},
                {"name": "grad_norm", "step": 7, "value": 1.5},
                {"name": "kl", "step": 7, "value": 0.003},
                {"name": "learning_rate", "step": 7, "value": 1e-5},
                {"name": "loss", "step": 7, "value": 0.12},
                {"name": "num_tokens", "step": 7, "value": 1024.0},
                {"name": "train/frac_reward_zero_std", "step": 7, "value": 0.25},
                {"name": "train/reward_mean", "step": 7, "value": 0.4},
                {"name": "train/reward_std", "step": 7, "value": 0.2},
                {"name": "train/rewards/assay/mean", "step": 7, "value": 0.4},
                {"name": "train/rewards/assay/std", "step": 7, "value": 0.2},
                {"name": "weird_key__x_", "step": 7, "value": 1.0},
            ],
        )


class Config(unittest.TestCase):
    HP = {
        "learningRate": 2e-5,
        "batchSize": 4,
        "groupSize": 8,
        "epochs": 2,
        "loraRank": 16,
        "klBeta": 0.04,
        "maxSteps": 300,
        "temperature": 0.9,
        "maxCompletionLength": 128,
        "seed": 11,
    }

    def test_hyperparams_map_to_grpo_config_with_bounded_device_batches(self):
        self.assertEqual(
            grpo_config_kwargs(self.HP, "/tmp/out", n_rows=100),
            {
                "output_dir": "/tmp/out",
                "learning_rate": 2e-5,
                "per_device_train_batch_size": 8,
                "gradient_accumulation_steps": 4,
                "steps_per_generation": 4,
                "num_generations": 8,
                "num_train_epochs": 2,
                "max_steps": 50,
                "beta": 0.04,
                "temperature": 0.9,
                "max_prompt_length": None,
                "max_completion_length": 128,
                "seed": 11,
                "logging_steps": 1,
                "save_strategy": "no",
                "report_to": "none",
                "remove_unused_columns": False,
                "lr_scheduler_type": "linear",
                "warmup_ratio": 0.0,
                "model_init_kwargs": {"torch_dtype": "bfloat16"},
                "bf16": True,
                "fp16": False,
            },
        )
        self.assertEqual(grpo_config_kwargs({**self.HP, "maxPromptLength": 300}, "/o", 100)["max_prompt_length"], 300)

    def test_steps_follow_epochs_rows_and_max_steps_with_the_batch_clamped_to_the_rows(self):
        self.assertEqual(plan_steps({"batchSize": 4, "epochs": 3, "maxSteps": 500}, 10), {"prompts": 4, "epochs": 3, "steps": 6, "rows": 10})
        self.assertEqual(plan_steps({"batchSize": 4, "epochs": 3, "maxSteps": 5}, 10)["steps"], 5)
        self.assertEqual(plan_steps({"batchSize": 16}, 3), {"prompts": 3, "epochs": 1, "steps": 1, "rows": 3})
        with self.assertRaisesRegex(ValueError, "no training rows"):
            plan_steps({}, 0)

    def test_the_batch_layout_stays_bounded_up_to_the_largest_batch_the_spec_allows(self):
        for prompts, group in [(4096, 64), (4093, 64), (16, 8), (1, 2), (7, 3), (4096, 2)]:
            layout = grpo_batch_layout(prompts, group)
            per_device, spg, accum = (
                layout["per_device_train_batch_size"], layout["steps_per_generation"], layout["gradient_accumulation_steps"],
            )
            generation = per_device * spg
            self.assertLessEqual(per_device, MAX_MICRO_BATCH, layout)
            self.assertLessEqual(generation, max(MAX_GENERATION_BATCH, group), layout)
            self.assertEqual(generation % group, 0, layout)  # whole groups per generate() call (GRPOConfig check)
            self.assertEqual(accum % spg, 0, layout)  # generation aligned with optimiser steps
            self.assertEqual(per_device * accum, prompts * group, layout)  # one step is exactly the batch
        self.assertEqual(
            grpo_batch_layout(4096, 64),
            {"per_device_train_batch_size": 8, "steps_per_generation": 8, "gradient_accumulation_steps": 32768, "prompts_per_generation": 1},
        )

    def test_precision_picks_the_load_dtype_and_the_mixed_precision_flag(self):
        self.assertEqual(
            precision_kwargs({}, cuda=True, bf16_supported=False),
            {"model_init_kwargs": {"torch_dtype": "float16"}, "bf16": False, "fp16": True},
        )
        self.assertEqual(precision_kwargs({}, cuda=False, bf16_supported=False)["model_init_kwargs"], {"torch_dtype": "float32"})
        self.assertEqual(precision_kwargs({"precision": "fp32"}, True, True), {"model_init_kwargs": {"torch_dtype": "float32"}, "bf16": False, "fp16": False})
        with self.assertRaisesRegex(ValueError, "bfloat16"):
            precision_kwargs({"precision": "bf16"}, cuda=True, bf16_supported=False)
        with self.assertRaisesRegex(ValueError, "bf16, fp16 or fp32"):
            precision_kwargs({"precision": "int8"}, True, True)

    def test_the_schedule_names_are_transformers_and_a_constant_schedule_keeps_its_warmup(self):
        self.assertEqual(schedule_kwargs({}), {"lr_scheduler_type": "linear", "warmup_ratio": 0.0})
        self.assertEqual(schedule_kwargs({"lrScheduler": "cosine", "warmupRatio": 0.1}), {"lr_scheduler_type": "cosine", "warmup_ratio": 0.1})
        self.assertEqual(schedule_kwargs({"lrScheduler": "constant", "warmupRatio": 0.1})["lr_scheduler_type"], "constant_with_warmup")
        self.assertEqual(schedule_kwargs({"lrScheduler": "constant"})["lr_scheduler_type"], "constant")
        with self.assertRaises(ValueError):
            schedule_kwargs({"lrScheduler": "step"})

    def test_lora_alpha_defaults_to_twice_the_rank(self):
        self.assertEqual(
            lora_config_kwargs(self.HP),
            {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear", "task_type": "CAUSAL_LM"},
        )
        self.assertEqual(lora_config_kwargs({**self.HP, "loraAlpha": 8})["lora_alpha"], 8)
        self.assertEqual(
            lora_config_kwargs({"lora": {"r": 4, "alpha": 16}, "loraTargets": ["q_proj", "v_proj"], "loraDropout": 0.0}),
            {"r": 4, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"},
        )
        self.assertEqual(lora_config_kwargs({"lora": {"r": 4}})["lora_alpha"], 8)
        with self.assertRaises(ValueError):
            lora_config_kwargs({"loraTargets": "q_proj"})

    def test_the_reward_step_comes_from_trainer_state_when_trl_passes_it(self):
        class State:
            global_step = 41

        self.assertEqual(reward_step({"trainer_state": State()}, 3), 42)
        self.assertEqual(reward_step({}, 3), 3)


class Hooks(unittest.TestCase):
    def setUp(self):
        self.double = PlatformDouble([ROW_A], {"maxSteps": 5}, stop_after_step=2)
        self.addCleanup(self.double.close)
        self.client = AssayClient(self.double.url, self.double.run_id, self.double.token, base_delay=0.001)
        self.now = [100.0]

    def hooks(self, **options):
        return StepHooks(self.client, heartbeat_every=30, clock=lambda: self.now[0], **options)

    def test_each_step_posts_its_log_with_its_duration_and_heartbeats_when_due(self):
        hooks = self.hooks()
        hooks.step_begin(0)
        self.assertEqual(hooks.step, 1)
        self.now[0] += 2.5
        self.assertFalse(hooks.step_end(1))
        self.assertFalse(hooks.log({"loss": 0.5, "reward": 0.25}, 1))
        self.assertEqual(
            self.double.metrics, {("step_time_s", 1): 2.5, ("loss", 1): 0.5, ("train/reward_mean", 1): 0.25}
        )
        self.assertEqual(self.double.heartbeats, [])
        hooks.step_begin(1)
        self.now[0] += 40
        hooks.step_end(2)
        self.assertEqual(self.double.heartbeats, [{"step": 2}])
        hooks.flush()
        self.assertEqual(self.double.metrics[("step_time_s", 2)], 40)

    def test_a_stop_answer_or_a_signal_makes_the_hooks_ask_training_to_stop(self):
        hooks = self.hooks()
        self.assertFalse(hooks.should_stop())
        self.client.rewards(2, [{"completion": "4", "item": ROW_A, "group": 0}])
        self.assertTrue(hooks.step_end(2))
        signalled = StepHooks(self.client.__class__(self.double.url, "run_double", "rt_double"), interrupted=lambda: "SIGTERM")
        self.assertTrue(signalled.should_stop())

    def test_the_end_of_training_log_goes_to_the_summary_not_the_metrics(self):
        hooks = self.hooks()
        hooks.log({"train_runtime": 12.5, "train_loss": 0.3}, 5)
        self.assertEqual(hooks.summary, {"train_runtime": 12.5, "train_loss": 0.3})
        self.assertEqual(self.double.metrics, {})


class GrpoRun(unittest.TestCase):
    """trl_trainer.py against TRL's behaviour at the five points a real run went wrong, and its batch mapping."""

    def run_ok(self, rows, hp, **kw):
        double, events, r = run_with_standins(rows, hp, **kw)
        self.assertIsNotNone(double.completed, r.stderr)
        self.assertEqual(double.completed["status"], "succeeded", f"{double.completed}\n{r.stderr}")
        return double, events

    def test_a_base_model_without_a_chat_template_is_trained_on_plain_text_prompts(self):
        rows = rows_with_answers(4) + [
            {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], "answer": "x"}
        ]
        double, events = self.run_ok(rows, {"batchSize": 5, "groupSize": 2, "maxSteps": 1}, baseModel="standin/plain")
        self.assertEqual(of(events, "grpo_init"), [{"event": "grpo_init", "processing_class_given": True}])
        prompts = [e["prompt_text"] for e in of(events, "generate")]
        self.assertTrue(prompts and not any("<|" in p for p in prompts), prompts)
        self.assertEqual(double.completed["summary"]["steps"], 1)

    def test_a_chat_prompt_ending_with_a_system_turn_fails_the_run_before_the_model_is_loaded(self):
        rows = rows_with_answers(2) + [{"prompt": [{"role": "user", "content": "hi"}, {"role": "system", "content": "x"}]}]
        double, events, r = run_with_standins(rows, {"batchSize": 2, "groupSize": 2, "maxSteps": 1})
        self.assertEqual(double.completed["status"], "failed", r.stderr)
        self.assertIn("row 2", double.completed["error"])
        self.assertIn("system", double.completed["error"])
        self.assertEqual(of(events, "model_load"), [])

    def test_epochs_bound_the_steps_as_in_the_cpu_trainer_and_the_schedule_ends_there(self):
        double, events = self.run_ok(rows_with_answers(8), {"batchSize": 4, "groupSize": 2, "epochs": 2, "maxSteps": 500})
        self.assertEqual(double.completed["summary"]["steps"], 4)
        self.assertEqual(of(events, "train_plan")[0]["max_steps"], 4)
        self.assertEqual([s for s, _ in double.series("learning_rate")], [1, 2, 3, 4])
        self.assertEqual(double.series("learning_rate")[-1][1], 0.0)
        double, _ = self.run_ok(rows_with_answers(8), {"batchSize": 4, "groupSize": 2, "epochs": 2, "maxSteps": 3})
        self.assertEqual(double.completed["summary"]["steps"], 3)

    def test_fewer_rows_than_the_batch_size_train_on_all_rows_each_step(self):
        double, events = self.run_ok(rows_with_answers(3), {"batchSize": 8, "groupSize": 2, "epochs": 2})
        self.assertEqual(double.completed["summary"]["steps"], 2)
        self.assertEqual(sorted(len(b) for b in double.reward_batches.values()), [6, 6])
        self.assertEqual(of(events, "empty_epoch"), [])

    def test_a_run_with_no_training_rows_fails_with_the_reason(self):
        double, events, r = run_with_standins([], {"batchSize": 8, "groupSize": 2})
        self.assertEqual(double.completed["status"], "failed", r.stderr)
        self.assertIn("no training rows", double.completed["error"])

    def test_a_base_model_that_cannot_be_loaded_fails_the_run_with_the_reason(self):
        double, _, r = run_with_standins(rows_with_answers(2), {"batchSize": 2, "groupSize": 2}, baseModel="standin/missing")
        self.assertIsNotNone(double.completed, r.stderr)
        self.assertEqual(double.completed["status"], "failed")
        self.assertIn("cannot load the tokenizer of standin/missing", double.completed["error"])

    def test_the_model_loads_in_the_precision_of_the_spec(self):
        hp = {"batchSize": 2, "groupSize": 2, "maxSteps": 1}
        _, events = self.run_ok(rows_with_answers(2), hp)
        self.assertEqual([e["dtype"] for e in of(events, "model_load")], ["bfloat16"])
        _, events = self.run_ok(rows_with_answers(2), {**hp, "precision": "fp16"})
        self.assertEqual([e["dtype"] for e in of(events, "model_load")], ["float16"])
        _, events = self.run_ok(rows_with_answers(2), {**hp, "precision": "fp32"})
        self.assertEqual([e["dtype"] for e in of(events, "model_load")], ["float32"])
        _, events = self.run_ok(rows_with_answers(2), hp, env={"STANDIN_BF16": "0"})
        self.assertEqual([e["dtype"] for e in of(events, "model_load")], ["float16"])

    def test_long_prompts_are_kept_whole_unless_max_prompt_length_is_set_and_truncation_is_a_kpi(self):
        long_row = {"prompt": "first " + "word " * 700 + "last ?", "answer": "1"}
        hp = {"batchSize": 2, "groupSize": 2, "maxSteps": 1}
        double, events = self.run_ok([long_row, rows_with_answers(1)[0]], hp)
        self.assertEqual(sum(e["truncated"] for e in of(events, "generate")), 0)
        self.assertEqual(double.series("train/prompts_truncated_fraction"), [(1, 0.0)])
        double, events = self.run_ok([long_row, rows_with_answers(1)[0]], {**hp, "maxPromptLength": 100})
        self.assertEqual(double.series("train/prompts_truncated_fraction"), [(1, 0.5)])
        self.assertEqual(double.completed["summary"]["promptsOverMaxPromptLength"], 1)

    def test_the_entrypoint_exposes_exactly_one_gpu_before_torch_loads(self):
        _, events = self.run_ok(rows_with_answers(2), {"batchSize": 2, "groupSize": 2, "maxSteps": 1}, env={"CUDA_VISIBLE_DEVICES": "2,3"})
        self.assertEqual([e["cuda_visible_devices"] for e in of(events, "torch_import")], ["2"])

    def test_a_large_batch_is_generated_in_bounded_pieces_and_each_row_is_read_a_bounded_number_of_times(self):
        double, events = self.run_ok(rows_with_answers(64), {"batchSize": 64, "groupSize": 8, "maxSteps": 1})
        generations = of(events, "generate")
        self.assertEqual(sum(e["sequences"] for e in generations), 64 * 8)
        self.assertLessEqual(max(e["sequences"] for e in generations), 64)
        plan = of(events, "train_plan")[0]
        self.assertLessEqual(plan["per_device"], 8)
        # Each generation batch is read from the dataset steps_per_generation times (TRL's repeat sampler).
        self.assertLessEqual(of(events, "generate")[-1]["dataset_fetches"], 64 * 8 * 8)
        self.assertEqual(sum(len(b) for b in double.reward_batches.values()), 64 * 8)


@unittest.skipIf(importlib.util.find_spec("trl") is not None, "TRL is installed: this checks the image without it")
class WithoutTrl(unittest.TestCase):
    def test_the_gpu_trainer_fails_the_run_with_the_reason_when_trl_is_missing(self):
        double = PlatformDouble([ROW_A], {"maxSteps": 5})
        self.addCleanup(double.close)
        env = {**os.environ, "ASSAY_API_URL": double.url, "ASSAY_RUN_ID": double.run_id, "ASSAY_RUN_TOKEN": double.token}
        r = subprocess.run(
            [sys.executable, os.path.join(CONTAINER, "trl_trainer.py")], env=env, capture_output=True, text=True, timeout=60
        )
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(double.completed["status"], "failed")
        self.assertIn("dependencies are missing", double.completed["error"])


if __name__ == "__main__":
    unittest.main()
