"""The SFT, DPO and KTO trainers (trl_pref.py): their TRL-free mapping, and whole runs through the container
entrypoint against the platform double with the TRL stand-ins (tests/standins, TRL 0.20.0's signatures and
config fields)."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from standin_run import of, run_with_standins  # noqa: E402
from trl_pref import (  # noqa: E402
    kto_weights,
    pref_batch,
    pref_config_kwargs,
    pref_kpi_points,
    pref_rows,
    unpack_adapter,
    warm_start_path,
)

SFT_ROWS = [{"prompt": f"say {i}", "completion": f" {i}", "meta": {"feedback": [f"fb_{i}"]}} for i in range(8)]
DPO_ROWS = [{"prompt": f"q {i}", "chosen": "good", "rejected": "bad"} for i in range(8)]
KTO_ROWS = [{"prompt": f"q {i}", "completion": "a", "label": i % 2 == 0} for i in range(8)]


def archive(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def artifact_files(double):
    with tarfile.open(fileobj=io.BytesIO(double.artifacts["adapter.tar.gz"]), mode="r:gz") as tar:
        return sorted(tar.getnames())


ADAPTER = archive(
    {"adapter_config.json": json.dumps({"r": 4, "lora_alpha": 8}).encode(), "adapter_model.safetensors": b"w"}
)
WARM = {
    "run": "run_prev",
    "uri": "r2://assay/run_prev/adapter.tar.gz",
    "url": "/v1/runs/run_double/warm-start/adapter.tar.gz",
}


class Mapping(unittest.TestCase):
    def test_sft_hyperparams_map_to_sft_config_fields(self):
        hp = {
            "learningRate": 2e-5,
            "epochs": 2,
            "maxSteps": 100,
            "batchSize": 16,
            "lrScheduler": "cosine",
            "warmupRatio": 0.1,
            "precision": "bf16",
            "seed": 3,
        }
        self.assertEqual(
            pref_config_kwargs("sft", hp, "/o", n_rows=40),
            {
                "output_dir": "/o",
                "learning_rate": 2e-5,
                "per_device_train_batch_size": 8,
                "gradient_accumulation_steps": 2,
                "num_train_epochs": 2,
                "max_steps": 4,
                "seed": 3,
                "logging_steps": 1,
                "save_strategy": "no",
                "report_to": "none",
                "lr_scheduler_type": "cosine",
                "warmup_ratio": 0.1,
                "bf16": True,
                "fp16": False,
                "model_init_kwargs": {"torch_dtype": "bfloat16"},
            },
        )

    def test_dpo_and_kto_take_beta_and_loss_type_by_trls_field_names_and_types(self):
        dpo = pref_config_kwargs(
            "dpo", {"beta": 0.3, "lossType": "ipo", "maxPromptLength": 256}, "/o", 8, warm_start=True
        )
        self.assertEqual(
            {k: dpo[k] for k in ("beta", "loss_type", "max_prompt_length", "model_adapter_name", "ref_adapter_name")},
            {
                "beta": 0.3,
                "loss_type": ["ipo"],
                "max_prompt_length": 256,
                "model_adapter_name": "train",
                "ref_adapter_name": "reference",
            },
        )
        self.assertNotIn("model_init_kwargs", dpo)
        kto = pref_config_kwargs("kto", {}, "/o", 8)
        self.assertEqual((kto["beta"], kto["loss_type"], kto["learning_rate"]), (0.1, "kto", 1e-6))
        self.assertNotIn("model_adapter_name", kto)  # KTOTrainer takes these as arguments, not config fields
        with self.assertRaisesRegex(ValueError, "lossType for dpo"):
            pref_config_kwargs("dpo", {"lossType": "kto"}, "/o", 8)
        with self.assertRaisesRegex(ValueError, "lossType for kto"):
            pref_config_kwargs("kto", {"lossType": "sigmoid"}, "/o", 8)

    def test_kto_device_batches_hold_at_least_two_rows(self):
        self.assertEqual(
            {k: v for k, v in pref_batch("kto", {"batchSize": 11}, 11).items() if k.endswith(("_size", "_steps"))},
            {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 5},
        )
        self.assertEqual(pref_batch("sft", {"batchSize": 11}, 11)["per_device_train_batch_size"], 1)
        self.assertEqual(
            pref_batch("kto", {"batchSize": 11, "lossType": "apo_zero_unpaired"}, 11)["per_device_train_batch_size"], 1
        )
        with self.assertRaisesRegex(ValueError, "at least 2 rows"):
            pref_batch("kto", {"batchSize": 1}, 5)

    def test_rows_keep_only_trls_columns_and_are_flattened_for_a_model_without_a_chat_template(self):
        self.assertEqual(pref_rows("sft", SFT_ROWS[:1], chat=True), [{"prompt": "say 0", "completion": " 0"}])
        msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
        self.assertEqual(pref_rows("sft", [{"messages": msgs}], chat=True), [{"messages": msgs}])
        self.assertEqual(pref_rows("sft", [{"messages": msgs}], chat=False), [{"text": "hi\n\nhello"}])
        conv = {
            "prompt": msgs[:1],
            "chosen": [{"role": "assistant", "content": "a"}],
            "rejected": [{"role": "assistant", "content": "b"}],
        }
        self.assertEqual(pref_rows("dpo", [conv], chat=False), [{"prompt": "hi\n\n", "chosen": "a", "rejected": "b"}])
        self.assertEqual(
            pref_rows("kto", KTO_ROWS[:1], chat=True), [{"prompt": "q 0", "completion": "a", "label": True}]
        )

    def test_bad_rows_are_refused_with_the_row_and_the_reason(self):
        cases = [
            ("sft", [SFT_ROWS[0], {"messages": [{"role": "user", "content": "x"}]}], "mixes"),
            ("dpo", [{"prompt": "q", "chosen": "a"}], "row 0: `rejected`"),
            ("kto", [{"prompt": "q", "completion": "a", "label": "yes"}], "row 0: `label`"),
            (
                "dpo",
                [
                    {
                        "prompt": [{"role": "system", "content": "s"}],
                        "chosen": [{"role": "assistant", "content": "a"}],
                        "rejected": [{"role": "assistant", "content": "b"}],
                    }
                ],
                "not 'system'",
            ),
            (
                "dpo",
                [{"prompt": "q", "chosen": [{"role": "assistant", "content": "a"}], "rejected": "b"}],
                "all be strings",
            ),
        ]
        for kind, rows, message in cases:
            with self.assertRaisesRegex(ValueError, message):
                pref_rows(kind, rows, chat=True)

    def test_kto_weights_up_weight_the_rarer_label_to_the_range_the_kto_paper_recommends(self):
        self.assertEqual(kto_weights([True, False, False, False]), {"desirable_weight": 3.0, "undesirable_weight": 1.0})
        self.assertEqual(kto_weights([True, True, False]), {"desirable_weight": 1.0, "undesirable_weight": 2.0})
        self.assertEqual(kto_weights([True, False]), {"desirable_weight": 1.0, "undesirable_weight": 1.0})

    def test_kpis_keep_trls_names(self):
        logs = {
            "loss": 0.5,
            "rewards/chosen": 0.2,
            "rewards/margins": 0.4,
            "logps/rejected": -3.0,
            "mean_token_accuracy": 0.7,
            "train_runtime": 3.0,
            "reward/mean": 1.0,
            "epoch": 1.0,
            "nan": float("nan"),
        }
        self.assertEqual(
            [p["name"] for p in pref_kpi_points(logs, 2)],
            ["epoch", "logps/rejected", "loss", "mean_token_accuracy", "rewards/chosen", "rewards/margins"],
        )

    def test_the_warm_start_is_read_only_from_this_api_and_unpacked_flat(self):
        self.assertIsNone(warm_start_path({}, "http://api"))
        self.assertEqual(warm_start_path({"warmStart": WARM}, "http://api"), WARM["url"])
        self.assertEqual(warm_start_path({"warmStart": {"url": "http://api/v1/x"}}, "http://api"), "http://api/v1/x")
        with self.assertRaisesRegex(ValueError, "not on this API"):
            warm_start_path({"warmStart": {"url": "http://elsewhere/v1/x"}}, "http://api")
        self.assertEqual(warm_start_path({"hyperparams": {"warmStart": WARM}}, "http://api"), WARM["url"])
        with self.assertRaisesRegex(ValueError, "names run_prev but the spec carries no url"):
            warm_start_path({"warmStart": "run_prev"}, "http://api")
        with self.assertRaisesRegex(ValueError, "needs warmStart.url"):
            warm_start_path({"warmStart": {"uri": "r2://assay/run_prev/adapter.tar.gz"}}, "http://api")
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(
                sorted(os.listdir(unpack_adapter(ADAPTER, d))), ["adapter_config.json", "adapter_model.safetensors"]
            )
            with self.assertRaisesRegex(ValueError, "only adapter files"):
                unpack_adapter(archive({"../evil": b"x"}), os.path.join(d, "x"))


class Runs(unittest.TestCase):
    def run_ok(self, rows, hp, **kw):
        double, events, r = run_with_standins(rows, hp, **kw)
        self.assertIsNotNone(double.completed, r.stderr)
        self.assertEqual(double.completed["status"], "succeeded", f"{double.completed}\n{r.stderr}")
        return double, events

    def test_sft_trains_the_planned_steps_with_the_specs_lora_and_posts_trls_kpis(self):
        hp = {
            "batchSize": 4,
            "epochs": 2,
            "lora": {"r": 4, "alpha": 8},
            "loraTargets": ["q_proj", "v_proj"],
            "loraDropout": 0.0,
            "lrScheduler": "cosine",
            "warmupRatio": 0.25,
            "precision": "fp16",
        }
        double, events = self.run_ok(SFT_ROWS, hp, kind="sft")
        self.assertEqual(double.completed["summary"]["steps"], 4)
        self.assertEqual(double.completed["summary"]["trainer"], "trl-sft")
        self.assertEqual(
            of(events, "get_peft_model"),
            [
                {
                    "event": "get_peft_model",
                    "r": 4,
                    "lora_alpha": 8,
                    "target_modules": ["q_proj", "v_proj"],
                    "lora_dropout": 0.0,
                }
            ],
        )
        self.assertEqual([e["dtype"] for e in of(events, "model_load")], ["float16"])
        plan = of(events, "train_plan")[0]
        self.assertEqual((plan["max_steps"], plan["per_device"], plan["accumulation"], plan["warmup"]), (4, 4, 1, 1))
        names = {n for n, _ in double.metrics}
        self.assertEqual(
            names, {"loss", "grad_norm", "learning_rate", "mean_token_accuracy", "num_tokens", "epoch", "step_time_s"}
        )
        self.assertEqual(double.series("learning_rate")[-1], (4, 0.0))
        self.assertEqual(
            artifact_files(double), ["adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json"]
        )
        self.assertEqual(
            double.completed["artifacts"], [{"kind": "lora-adapter", "uri": "r2://double/run_double/adapter.tar.gz"}]
        )

    def test_sft_chat_rows_on_a_model_without_a_chat_template_train_as_text(self):
        rows = [
            {"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "hello"}]}
            for i in range(4)
        ]
        double, events = self.run_ok(rows, {"batchSize": 2}, kind="sft", baseModel="standin/plain")
        self.assertEqual(of(events, "sft_dataset")[0]["first"], "hi 0\n\nhello")
        _, events = self.run_ok(rows, {"batchSize": 2}, kind="sft")
        self.assertIn("<|assistant|>", of(events, "sft_dataset")[0]["first"])

    def test_rows_trl_will_cut_are_counted_in_the_summary(self):
        rows = SFT_ROWS[:3] + [{"prompt": "long", "completion": " w" * 1100}]
        double, _ = self.run_ok(rows, {"batchSize": 2}, kind="sft")
        self.assertEqual(double.completed["summary"]["rowsOverMaxLength"], 1)
        double, _ = self.run_ok(rows, {"batchSize": 2, "maxLength": 2000}, kind="sft")
        self.assertEqual(double.completed["summary"]["rowsOverMaxLength"], 0)
        rows = DPO_ROWS[:3] + [{"prompt": "p " * 600, "chosen": "a", "rejected": "b"}]
        double, _ = self.run_ok(rows, {"batchSize": 2}, kind="dpo")
        self.assertEqual(
            {k: double.completed["summary"][k] for k in ("rowsOverMaxLength", "promptsOverMaxPromptLength")},
            {"rowsOverMaxLength": 0, "promptsOverMaxPromptLength": 1},
        )

    def test_dpo_passes_beta_and_loss_type_and_posts_its_reward_margins(self):
        double, events = self.run_ok(DPO_ROWS, {"batchSize": 4, "beta": 0.2, "lossType": "ipo"}, kind="dpo")
        ref = of(events, "dpo_reference")[0]
        self.assertEqual((ref["reference"], ref["loss_type"], ref["beta"]), ("adapter-disabled", "ipo", 0.2))
        names = {n for n, _ in double.metrics}
        self.assertTrue(
            {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen"} <= names,
            names,
        )
        self.assertEqual(double.completed["summary"]["steps"], 2)

    def test_dpo_and_kto_train_a_base_model_whose_tokenizer_has_no_pad_token(self):
        double, events = self.run_ok(DPO_ROWS, {"batchSize": 4}, kind="dpo", baseModel="standin/plain")
        self.assertEqual(double.completed["summary"]["steps"], 2)
        double, events = self.run_ok(KTO_ROWS, {"batchSize": 4}, kind="kto", baseModel="standin/plain")
        self.assertEqual(double.completed["summary"]["steps"], 2)

    def test_kto_trains_on_labelled_rows_and_a_bad_label_fails_the_run_before_the_model_loads(self):
        double, events = self.run_ok(KTO_ROWS, {"batchSize": 4}, kind="kto")
        self.assertEqual(of(events, "kto_reference")[0]["loss_type"], "kto")
        self.assertIn(("kl", 1), double.metrics)
        rows = KTO_ROWS[:3] + [{"prompt": "q", "completion": "a", "label": 1}]
        double, events, r = run_with_standins(rows, {"batchSize": 2}, kind="kto")
        self.assertEqual(double.completed["status"], "failed", r.stderr)
        self.assertIn("row 3: `label`", double.completed["error"])
        self.assertEqual(of(events, "model_load"), [])

    def test_a_dpo_warm_start_trains_the_earlier_adapter_against_itself_frozen_and_uploads_only_the_trained_one(self):
        double, events = self.run_ok(
            DPO_ROWS,
            {"batchSize": 4, "precision": "bf16"},
            kind="dpo",
            warmStart=WARM,
            downloads={WARM["url"]: ADAPTER},
        )
        self.assertEqual(of(events, "get_peft_model"), [])
        self.assertEqual([e["dtype"] for e in of(events, "model_load")], ["bfloat16"])
        self.assertEqual(
            [(e["event"], e["adapter_name"], e["is_trainable"]) for e in events if e["event"].startswith("peft_")],
            [("peft_from_pretrained", "train", True), ("peft_load_adapter", "reference", False)],
        )
        self.assertEqual(of(events, "dpo_reference")[0]["reference"], "adapter:reference")
        self.assertEqual(artifact_files(double), ["adapter_config.json", "adapter_model.safetensors"])
        self.assertEqual(double.completed["summary"]["warmStart"], "run_prev")

    def test_a_kto_warm_start_passes_no_model_init_kwargs_to_the_built_model(self):
        double, events = self.run_ok(
            KTO_ROWS, {"batchSize": 4}, kind="kto", warmStart=WARM, downloads={WARM["url"]: ADAPTER}
        )
        self.assertEqual(of(events, "kto_reference")[0]["reference"], "adapter:reference")

    def test_an_sft_warm_start_continues_the_adapter_as_the_default_one(self):
        double, events = self.run_ok(
            SFT_ROWS, {"batchSize": 4}, kind="sft", warmStart=WARM, downloads={WARM["url"]: ADAPTER}
        )
        self.assertEqual(
            [(e["adapter_name"], e["is_trainable"]) for e in of(events, "peft_from_pretrained")], [("default", True)]
        )
        self.assertIn("adapter_config.json", artifact_files(double))

    def test_a_warm_start_off_this_api_fails_the_run_without_sending_the_token(self):
        double, events, r = run_with_standins(
            SFT_ROWS, {"batchSize": 4}, kind="sft", warmStart={"run": "run_x", "url": "http://127.0.0.2:9/a"}
        )
        self.assertEqual(double.completed["status"], "failed", r.stderr)
        self.assertIn("not on this API", double.completed["error"])
        self.assertEqual(of(events, "model_load"), [])

    def test_a_stop_answer_ends_training_after_the_current_step_and_the_run_succeeds(self):
        double, events = self.run_ok(SFT_ROWS, {"batchSize": 2, "epochs": 3}, kind="sft", stop_reason="limit: maxSteps")
        self.assertEqual(double.completed["summary"]["steps"], 1)
        self.assertEqual(double.completed["summary"]["stoppedBy"], "platform")
        self.assertEqual(double.completed["summary"]["stopReason"], "limit: maxSteps")

    def test_an_adapter_archive_that_cannot_be_read_fails_the_run_with_the_reason(self):
        double, _, r = run_with_standins(SFT_ROWS, {"batchSize": 4}, kind="sft", warmStart=WARM, downloads={WARM["url"]: b"not gzip"})
        self.assertIsNotNone(double.completed, r.stderr)
        self.assertEqual(double.completed["status"], "failed")
        self.assertEqual(double.completed["summary"]["steps"], 0)
        self.assertIn("not a readable .tar.gz", double.completed["error"])

    def test_an_unknown_kind_fails_the_run_with_the_reason(self):
        double, _, r = run_with_standins(SFT_ROWS, {}, kind="eval")
        self.assertEqual(double.completed["status"], "failed", r.stderr)
        self.assertIn("not 'eval'", double.completed["error"])


if __name__ == "__main__":
    unittest.main()
