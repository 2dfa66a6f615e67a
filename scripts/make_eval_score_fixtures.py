#!/usr/bin/env python3
"""Golden fixtures for the C++ scorers and submission writers (tests/data/eval_score/).

The tricky inputs below (answer files, annotations, labels) are written to tests/data/eval_score/ and
then scored by RUNNING the official Python code; its results are saved next to them as expected_*.json.
The official code is not part of this repository; stage it in one directory and pass it as --official:

  OFF=/tmp/score_official; mkdir -p $OFF/imp
  git -C /work/.mirror/MILVLG+imp/repo archive HEAD imp_llava/__init__.py imp_llava/eval scripts | tar -x -C $OFF/imp
  # GQA eval.py with LLaVA's testdev changes (the gist linked from LLaVA's docs/Evaluation.md), as vendored by
  # SHI-Labs/VCoder at playground/data/eval/gqa/data/eval/eval.py:
  git -C <VCoder mirror> show HEAD:playground/data/eval/gqa/data/eval/eval.py > $OFF/gqa_eval.py
  # MME's official eval_tool/calculation.py (BradyFU/Awesome-Multimodal-Large-Language-Models, Evaluation
  # branch, tools/eval_tool.zip), e.g. the copy in TideDra/VL-RLHF@4c13000 eval/mme/calculation.py:
  git -C <VL-RLHF mirror> show 4c1300071f9c22b42cd4ac930694f5bd19cf52ab:eval/mme/calculation.py > $OFF/mme_calculation.py
  # LLaVA's eval.zip playground/data/eval/MME/convert_answer_to_mme.py (in haotian-liu/LLaVA history, 32cebc3):
  git -C <LLaVA mirror> show 32cebc3:playground/data/eval/MME/convert_answer_to_mme.py > $OFF/convert_answer_to_mme.py
  /work/venv-fixtures/bin/python scripts/make_eval_score_fixtures.py --official $OFF

calculation.py imports sklearn.metrics, which the fixture venv lacks; a minimal stand-in module provides the
four functions it calls (accuracy_score is the only one that enters the MME score). Everything else runs
unmodified. Needs only the standard library and tqdm.
"""
import argparse
import contextlib
import importlib.util
import io
import json
import os
import runpy
import shutil
import sys
import tempfile
import types

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "eval_score")


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def run_script(path, argv, cwd=None):
    """Runs an official script as __main__; returns (globals, stdout)."""
    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = [path] + argv
    buf = io.StringIO()
    try:
        if cwd:
            os.chdir(cwd)
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            g = runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return g, buf.getvalue()


def write_json(path, obj, indent=2):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write("\n")


def write_jsonl(path, records):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def answer(qid, text, prompt="", **extra):
    rec = {"question_id": qid, "prompt": prompt, "text": text, "answer_id": "golden", "model_id": "golden",
           "metadata": {}}
    rec.update(extra)
    return rec


# ---------------------------------------------------------------------------------------------------------
# EvalAI answer processor: strings that exercise every step.
EVALAI_CASES = [
    "", " ", "\t\n", "Yes", "yes", "NO", "no.", "No.", "No, it is not.", "Yes, it is.", "yes !", "yes!", "what?",
    "Two", "two dogs", "TWO", "a dog", "A Dog.", "The Dog.", "an apple", "AN", "the the the", "The", "none",
    "None of them", "zero", "ten", "eleven", "one two three four five six seven eight nine ten", "dont",
    "Dont know", "isnt", "isn't", "Im", "im", "Ive", "Id've", "id've", "I'dve", "its", "let's go", "Let's",
    "it's red", "man's hat", "y'all'll", "yall'll", "somebody'd", "Somebody'd", "wont", "oclock", "3.5", "3.",
    ".5", "5.", "0.5", "5.5.5", "..5", ". . .", "...", "none.", "U.S.A.", "e.g. this", "1,000", "1, 000",
    "10,000,000", "hello, world", "left-handed", "left - handed", "t-shirt", "(red)", "red (dark)", "a/b",
    "a / b", "x=y", "x = y", "50%", "$5", "#1", "it's 5 o'clock", "10:30", "quote \"x\"", "\"x\"", "back\\slash",
    "under_score", "@home", "`tick`", "[1]", "{a}", "<b>", "a>b", "a <b", "yes;no", "yes; no", "+1", "c++",
    "multiple   spaces", "line\nbreak", "tab\there", "\u00a0nbsp\u00a0", "em\u2003space", "zero\u200bwidth",
    "ideographic\u3000space", "sep\x1cchar", "caf\u00e9", "na\u00efve", "stra\u00dfe", "\u01c5", "\u0130stanbul",
    "\u0130", "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3", "\u03a3\u0391\u03a3.", "\u03a3", "\u03a3a",
    "A\u03a3'", "\u0661\u0662.\u0663", "3.\u0663", "\u0663.", "\u2167", "\u00b2.", "\uff11.5", "emoji \U0001F600!",
    "\U0001F600.", "Ünïcödé Wörds", "CAFÉ", "." * 40, "a." * 40, "x" + ". " * 35 + "y",
    "the answer is: two", "a, b, and c", "NONE", "None.", "Zero.", "A", "I", "a an the", "it is a dog's bone",
    "dogs'", "o'clock", "ow's'at", "'ows'at", "twas", "there's", "theres", "the 2 dogs", "2 dogs, 3 cats",
    "No\r\nYes", "-", "--", "- -", "?", "!!", "1.000,5", "9,", ",9", "9,a", "yes,9,9",
    # case mappings that change the UTF-8 length or are not plain Lu -> Ll pairs
    "\u023a", "\u212a Kelvin", "\u1e9e", "\u13a0", "\u1c90", "\u01c8", "\u2126", "\U00010400", "\u1fbc",
    "\u24b6 circled", "\uff21\uff22", "\u0130\u0307", "\u03a3\u0345", "a\u03a3\u0301 b", "\u0149",
]

# VQA soft accuracy: prediction, 10 human answers.
VQA_CASES = [
    ("yes", ["yes"] * 10),
    ("no", ["yes"] * 10),
    ("Two", ["2", "2", "two", "2", "3", "2", "2", "2", "2", "2"]),
    ("2", ["2", "3", "3", "4", "4", "4", "5", "5", "5", "5"]),
    ("red", ["red", "red", "dark red", "maroon", "red", "burgundy", "red", "Red", "red.", "wine"]),
    ("a dog", ["dog", "dog", "puppy", "the dog", "Dog", "dogs", "dog", "dog", "a dog", "canine"]),
    ("", ["", "", "unanswerable", "", "unanswerable", "", "", "", "unanswerable", ""]),
    ("Unanswerable", ["unanswerable"] * 3 + ["no"] * 7),
    ("don't know", ["dont know", "don't know", "dont know", "unknown", "not sure", "dont know", "?", "",
                    "no idea", "dont know"]),
    ("NO", ["no", "No", "no.", "nope", "NO", "no", "no,", "no!", "not", "n"]),
]

TEXTVQA_QUESTIONS = [
    ("img_a", "what brand is the phone?", ["nokia"] * 6 + ["Nokia", "nokia phone", "NOKIA", "unanswerable"]),
    ("img_b", "What is the number on the jersey?", ["23", "23", "twenty three", "23", "23", "2 3", "23", "#23", "23", "23"]),
    ("img_c", "What does the sign say?", ["stop", "STOP", "stop.", "stop sign", "stop", "stop!", "stop", "stop", "the stop", "stop"]),
    ("img_d", "what year is on the coin?", ["1999", "1999", "1,999", "1999.", "1999", "1999", "1998", "1999", "one", "1999"]),
    ("img_e", "Who wrote this?", ["j.k. rowling", "jk rowling", "J.K. Rowling", "rowling", "j. k. rowling",
                                  "jk rowling", "j.k rowling", "j.k.rowling", "Rowling", "j k rowling"]),
    ("img_f", "what's written here?", ["don't", "dont", "do not", "don't", "don't", "dont", "don't", "DON'T", "don't", "don t"]),
]
TEXTVQA_ANSWERS = [
    ("img_a", "what brand is the phone?\nReference OCR token: Nokia, 3310\nAnswer the question using a single word or phrase.", "Nokia"),
    ("img_b", "What is the number on the jersey?\nAnswer the question using a single word or phrase.", "twenty three"),
    ("img_c", "Reference OCR token: STOP\nWhat does the sign say?\nAnswer the question using a single word or phrase.", "Stop."),
    ("img_d", "OCR tokens: 1999, LIBERTY Question: what year is on the coin? Short answer:", "1,999"),
    ("img_e", "Who wrote this?\nReference OCR token: J.K., ROWLING\nAnswer the question using a single word or phrase.", "J.K. Rowling"),
    ("img_f", "what's written here?\nAnswer the question using a single word or phrase.", "dont"),
]

POPE_QUESTIONS = []  # (qid, category, label, model answer)
_pope_answers = ["Yes", "No", "NO", "no.", "No, there is not.", "Yes, there is a dog. No cat.", "There is no dog",
                 "not", "Nope", "", "yes,no", "I don't know", "no,", "Yes.", "yes", "No", "Yes, no", "yes no"]
_labels = ["yes", "no", "yes", "no", "no", "yes", "yes", "no", "no", "yes", "yes", "no", "no", "yes", "yes", "no",
           "yes", "no"]
for split_idx, split in enumerate(["adversarial", "popular", "random"]):
    for k in range(12):
        j = (k * (split_idx + 2) + split_idx) % len(_pope_answers)
        POPE_QUESTIONS.append((split_idx * 100 + k + 1, split, _labels[(k + split_idx) % len(_labels)], _pope_answers[j]))

MME_TASKS = ["existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR",
             "commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"]
MME_WITH_IMAGES_DIR = {"posters", "celebrity", "scene", "landmark", "artwork"}
MME_PREDICTIONS = ["Yes", "No", "yes.", "No, there is not.", "nope", "Not really", "y", "", "YES",
                   "The answer is yes", "no yes", "Unknown", "Yes\u00a0", "noo", " no", "NO.", "yes, no", "Nein"]

SQA_PROBLEMS = [  # pid, n choices, answer idx, has image, prediction (None: no prediction line)
    ("1", 2, 0, True, "A"), ("2", 3, 1, True, "B."), ("3", 4, 2, False, "C. dog"), ("4", 2, 1, True, "The answer is B."),
    ("5", 3, 0, True, "The answer is A"), ("6", 4, 3, False, "The answer is C.\nThe answer is D."),
    ("7", 5, 4, True, "E"), ("8", 3, 2, True, "E"), ("9", 2, 0, False, "a"), ("10", 2, 1, True, ""),
    ("11", 4, 1, True, "The answer is AThe answer is B."), ("12", 3, 1, True, None), ("13", 2, 0, False, None),
    ("14", 4, 0, True, "(A)"), ("15", 2, 1, True, "B. "), ("16", 3, 0, True, "A."), ("17", 4, 2, True, "The answer is C!"),
    ("18", 2, 0, True, "The answer is T"), ("19", 2, 1, False, "B"), ("20", 5, 3, True, "The answer is D\n"),
]

GQA_QUESTIONS = [  # qid, balanced, answer, question, structural, semantic type, global group, steps ops, prediction
    ("q1", True, "yes", "Is there a dog?", "verify", "obj", None, [("select", "dog"), ("exist", "?")], "Yes."),
    ("q2", True, "left", "On which side is the cup?", "query", "rel", "place", [("select", "cup"), ("query", "hposition")], "Left"),
    ("q3", True, "no", "Are the shoes red and  blue?", "logical", "attr", None, [("select", "shoes"), ("verify color", "red"), ("and", "")], "no"),
    ("q4", True, "table", "What is the piece of furniture?", "query", "cat", "furniture", [("select", "furniture"), ("query", "name")], "The table."),
    ("q5", False, "chair", "What is it?", "query", "cat", "furniture", [("select", "chair")], None),
    ("q6", True, "red", "What color is the car?", "query", "attr", "color", [("select", "car"), ("query", "color")], "red.."),
    ("q7", True, "bedroom", "Which room is it?", "query", "global", "room", [("select", "scene"), ("query", "room")], "bedroom"),
    ("q8", True, "blue", "What color is the sky?", "query", "attr", "color", [("select", "sky"), ("query", "color")], "BLUE"),
    ("q9", True, "yes", "Do you see both cats and dogs?", "logical", "obj", None, [("select", "cat"), ("exist", "?"), ("select", "dog"), ("exist", "?"), ("and", "")], "no"),
    ("q10", True, "man", "Who is wearing the hat?", "query", "rel", "person", [("select", "hat"), ("relate", "wearing"), ("query", "name")], "man"),
    ("q11", True, "woman", "Who is holding the umbrella?", "query", "rel", "person", [("select", "umbrella"), ("relate", "holding"), ("choose name", "x")], "girl"),
    ("q12", True, "red", "What color is the bus?", "query", "attr", "color", [("select", "bus"), ("query", "color")], "red"),
    ("q13", True, "cup", "Which is smaller, the cup or the plate?", "choose", "obj", "kitchen", [("select", "cup"), ("select", "plate"), ("choose smaller", "")], "\u0130"),
    ("q14", False, "no", "Is it?", "verify", "obj", None, [], None),
]

VQAV2_TEST = [(1, "Yes"), (2, "two dogs"), (3, None), (4, "The U.S.A."), (5, "caf\u00e9 \"x\""), (6, "\u00fcber")]
VIZWIZ_TEST = [("VizWiz_test_00000000.jpg", "Unanswerable"), ("VizWiz_test_00000001.jpg", "A red shirt."),
               ("VizWiz_test_00000002.jpg", "dont know"), ("VizWiz_test_00000003.jpg", "NO")]
MMVET_ANSWERS = [(0, "The answer is 5."), ("v1_x", "quoted \"text\"\nnew line"), (2, "\u00fc\u00f1\u00ee"), (0, "overwritten")]


def gen_evalai(m4c):
    proc = m4c.EvalAIAnswerProcessor()
    cases = []
    for s in EVALAI_CASES:
        wt = proc.word_tokenize(s)
        joined = wt.replace("\n", " ").replace("\t", " ").strip()
        punct = proc.process_punctuation(joined)
        out = proc.process_digit_article(punct)
        assert out == proc(s)
        cases.append({"input": s, "word_tokenize": wt, "punctuation": punct, "output": out,
                      "punctuation_raw": proc.process_punctuation(s),
                      "digit_article_raw": proc.process_digit_article(s)})
    write_json(os.path.join(OUT, "expected_evalai.json"), {"cases": cases})
    ev = m4c.TextVQAAccuracyEvaluator()
    vqa = []
    for pred, gts in VQA_CASES:
        scores = ev._compute_answer_scores(gts)
        acc = ev.eval_pred_list([{"pred_answer": pred, "gt_answers": gts}])
        vqa.append({"prediction": pred, "gt_answers": gts, "accuracy": acc,
                    "answer_scores": [[k, v] for k, v in sorted(scores.items())]})
    write_json(os.path.join(OUT, "expected_vqa_accuracy.json"), {"cases": vqa})


def gen_textvqa(off, m4c):
    d = os.path.join(OUT, "textvqa")
    ann = {"dataset_name": "textvqa", "data": [{"image_id": i, "question": q, "answers": a, "question_id": n}
                                               for n, (i, q, a) in enumerate(TEXTVQA_QUESTIONS)]}
    write_json(os.path.join(d, "TextVQA_0.5.1_val.json"), ann)
    write_jsonl(os.path.join(d, "answers.jsonl"), [answer(i, t, p) for i, p, t in TEXTVQA_ANSWERS])
    captured = []
    orig = m4c.TextVQAAccuracyEvaluator.eval_pred_list

    def recording(self, pred_list):
        acc = orig(self, pred_list)
        captured.append(acc)
        return acc

    m4c.TextVQAAccuracyEvaluator.eval_pred_list = recording
    try:
        run_script(os.path.join(off, "imp", "imp_llava", "eval", "eval_textvqa.py"),
                   ["--annotation-file", os.path.join(d, "TextVQA_0.5.1_val.json"),
                    "--result-file", os.path.join(d, "answers.jsonl")])
    finally:
        m4c.TextVQAAccuracyEvaluator.eval_pred_list = orig
    write_json(os.path.join(d, "expected.json"), {"samples": len(TEXTVQA_ANSWERS), "accuracy": 100.0 * captured[0]})


def gen_pope(off):
    d = os.path.join(OUT, "pope")
    questions, answers, labels = [], [], {}
    for qid, split, label, text in POPE_QUESTIONS:
        questions.append({"question_id": qid, "image": "COCO_val2014_%012d.jpg" % qid,
                          "text": "Is there a dog in the image?", "category": split})
        answers.append(answer(qid, text, "Is there a dog in the image?"))
        labels.setdefault(split, []).append({"question_id": qid, "image": "x.jpg", "text": "q", "label": label})
    write_jsonl(os.path.join(d, "llava_pope_test.jsonl"), questions)
    write_jsonl(os.path.join(d, "answers.jsonl"), answers)
    for split, lines in labels.items():
        write_jsonl(os.path.join(d, "coco", "coco_pope_%s.json" % split), lines)
    _, out = run_script(os.path.join(off, "imp", "imp_llava", "eval", "eval_pope.py"),
                        ["--annotation-dir", os.path.join(d, "coco"), "--question-file",
                         os.path.join(d, "llava_pope_test.jsonl"), "--result-file", os.path.join(d, "answers.jsonl")])
    splits, cur = {}, None
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Category: "):
            name = line[len("Category: "):].split(",")[0]
            cur = splits[name] = {"samples": int(line.split("# samples: ")[1])}
        elif line.startswith("TP\tFP\tTN\tFN"):
            tp, fp, tn, fn = (int(x) for x in lines[i + 1].split("\t"))
            cur.update({"TP": tp, "FP": fp, "TN": tn, "FN": fn})
        for key, name in (("Accuracy: ", "accuracy"), ("Precision: ", "precision"), ("Recall: ", "recall"),
                          ("F1 score: ", "f1"), ("Yes ratio: ", "yes_ratio")):
            if line.startswith(key):
                cur[name] = float(line[len(key):])
    write_json(os.path.join(d, "expected.json"), {"splits": splits, "stdout": out})


def gen_sqa(off):
    d = os.path.join(OUT, "sqa")
    problems = {pid: {"question": "q%s" % pid, "choices": ["c%d" % k for k in range(n)], "answer": ans,
                      "image": "image.png" if img else None, "split": "test"}
                for pid, n, ans, img, _ in SQA_PROBLEMS}
    problems["99"] = {"question": "val", "choices": ["a", "b"], "answer": 0, "image": None, "split": "val"}
    write_json(os.path.join(d, "problems.json"), problems)
    write_json(os.path.join(d, "pid_splits.json"), {"test": [p[0] for p in SQA_PROBLEMS], "val": ["99"]})
    write_jsonl(os.path.join(d, "answers.jsonl"),
                [answer(pid, text, "Question %s" % pid) for pid, _, _, _, text in SQA_PROBLEMS if text is not None] +
                [answer("99", "A"), answer(5, "A")])
    with tempfile.TemporaryDirectory() as tmp:
        g, out = run_script(os.path.join(off, "imp", "imp_llava", "eval", "eval_science_qa.py"),
                            ["--base-dir", d, "--result-file", os.path.join(d, "answers.jsonl"),
                             "--output-file", os.path.join(tmp, "o.json"), "--output-result", os.path.join(tmp, "r.json")])
        with open(os.path.join(tmp, "r.json")) as f:
            result = json.load(f)
    parsed = {pid: a["parsed_ans"] for k in ("correct", "incorrect") for a in g["results"][k]
              for pid in [a["question_id"]]}
    write_json(os.path.join(d, "expected.json"), {
        "total": g["total"], "correct": g["correct"], "accuracy": result["acc"],
        "predicted": g["multimodal_total"], "img_accuracy_python": g["multimodal_correct"] / g["multimodal_total"] * 100,
        "parsed": parsed, "pred_idx": result["results"], "stdout": out})


def sklearn_stand_in():
    """The four sklearn.metrics functions calculation.py calls, for binary labels in {1, 0} (-1 = other)."""
    m = types.ModuleType("sklearn.metrics")

    def accuracy_score(gts, preds):
        return sum(1.0 for g, p in zip(gts, preds) if g == p) / len(gts)

    def confusion_matrix(gts, preds, labels):
        return [[sum(1 for g, p in zip(gts, preds) if g == a and p == b) for b in labels] for a in labels]

    def precision_score(gts, preds, average="binary"):
        tp = sum(1 for g, p in zip(gts, preds) if g == 1 and p == 1)
        pp = sum(1 for p in preds if p == 1)
        return tp / pp if pp else 0.0

    def recall_score(gts, preds, average="binary"):
        tp = sum(1 for g, p in zip(gts, preds) if g == 1 and p == 1)
        ap = sum(1 for g in gts if g == 1)
        return tp / ap if ap else 0.0

    m.accuracy_score, m.confusion_matrix = accuracy_score, confusion_matrix
    m.precision_score, m.recall_score = precision_score, recall_score
    pkg = types.ModuleType("sklearn")
    pkg.metrics = m
    sys.modules.setdefault("sklearn", pkg)
    sys.modules.setdefault("sklearn.metrics", m)


def gen_mme(off):
    d = os.path.join(OUT, "mme")
    root = os.path.join(d, "MME_Benchmark_release_version")
    if os.path.isdir(root):
        shutil.rmtree(root)
    answers, k = [], 0
    for t_idx, task in enumerate(MME_TASKS):
        cat_dir = os.path.join(root, task)
        qa_dir = os.path.join(cat_dir, "questions_answers_YN") if task in MME_WITH_IMAGES_DIR else cat_dir
        os.makedirs(qa_dir, exist_ok=True)
        if task in MME_WITH_IMAGES_DIR:
            os.makedirs(os.path.join(cat_dir, "images"), exist_ok=True)
            with open(os.path.join(cat_dir, "images", "README"), "w") as f:
                f.write("MME images go here (fixture: none needed)\n")
        for img in range(2):
            name = "%s_%d" % (task[:3], img)
            gts = ["Yes", "No"] if (img + t_idx) % 2 == 0 else ["No", "Yes"]
            double = task == "OCR" and img == 1  # the double-space variant convert_answer_to_mme.py falls back to
            lines = []
            for q in range(2):
                question = "Is this %s number %d?" % (task.replace("_", " "), q)
                sep = "  " if double else " "
                lines.append("%s%sPlease answer yes or no.\t%s\n" % (question, sep, gts[q]))
                pred = MME_PREDICTIONS[k % len(MME_PREDICTIONS)]
                k += 1
                answers.append(answer("%s/%s.png" % (task, name), pred,
                                      question + "\nAnswer the question using a single word or phrase."))
            with open(os.path.join(qa_dir, name + ".txt"), "w") as f:
                f.writelines(lines)
    write_jsonl(os.path.join(d, "answers.jsonl"), answers)
    sklearn_stand_in()
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(root, os.path.join(tmp, "MME_Benchmark_release_version"))
        os.makedirs(os.path.join(tmp, "answers"))
        shutil.copy(os.path.join(d, "answers.jsonl"), os.path.join(tmp, "answers", "golden.jsonl"))
        run_script(os.path.join(off, "convert_answer_to_mme.py"), ["--experiment", "golden"], cwd=tmp)
        res_dir = os.path.join(tmp, "eval_tool", "answers", "golden")
        converted = {}
        for f in sorted(os.listdir(res_dir)):
            with open(os.path.join(res_dir, f)) as fh:
                converted[f[:-4]] = fh.read()
        task_scores = {}
        calc = load_module("mme_calculation", os.path.join(off, "mme_calculation.py"))
        orig = calc.calculate_metrics.compute_metric

        def recording(self, gts, preds):
            out = orig(self, gts, preds)
            task_scores.setdefault("_order", []).append(out["acc"])
            return out

        calc.calculate_metrics.compute_metric = recording
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            calc.calculate_metrics().process_result(res_dir)
    totals, tasks, group = {}, {}, None
    for line in buf.getvalue().splitlines():
        s = line.strip()
        if s.startswith("=========== "):
            group = s.split()[1].lower()
        elif s.startswith("total score:"):
            totals[group] = float(s.split(":")[1])
        elif s.endswith(tuple("0123456789")) and " score:" in s:
            name, val = s.split(" score:")
            tasks[name.strip()] = float(val)
    write_json(os.path.join(d, "expected.json"),
               {"perception": totals["perception"], "cognition": totals["cognition"], "tasks": tasks,
                "acc": dict(zip(MME_TASKS, task_scores["_order"])), "converted": converted})


def gen_gqa(off):
    d = os.path.join(OUT, "gqa")
    questions = {}
    for qid, bal, ans, q, struct, sem, glob, ops, _ in GQA_QUESTIONS:
        questions[qid] = {"imageId": "n1", "question": q, "answer": ans, "fullAnswer": ans, "isBalanced": bal,
                          "types": {"structural": struct, "semantic": sem, "detailed": sem + "Detail"},
                          "groups": {"global": glob, "local": None}, "entailed": [], "equivalent": [qid],
                          "annotations": {"question": {}, "answer": {}, "fullAnswer": {}},
                          "semantic": [{"operation": o, "argument": a, "dependencies": []} for o, a in ops],
                          "semanticStr": ""}
    write_json(os.path.join(d, "testdev_balanced_questions.json"), questions)
    write_jsonl(os.path.join(d, "answers.jsonl"),
                [answer(qid, pred, q) for qid, _, _, q, _, _, _, _, pred in GQA_QUESTIONS if pred is not None])
    with tempfile.TemporaryDirectory() as tmp:
        pred_file = os.path.join(tmp, "testdev_balanced_predictions.json")
        run_script(os.path.join(off, "imp", "scripts", "convert_gqa_for_eval.py"),
                   ["--src", os.path.join(d, "answers.jsonl"), "--dst", pred_file])
        with open(pred_file, "rb") as f:
            predictions_bytes = f.read()
        shutil.copy(os.path.join(d, "testdev_balanced_questions.json"), tmp)
        g, out = run_script(os.path.join(off, "gqa_eval.py"), ["--tier", "testdev_balanced"], cwd=tmp)
    with open(os.path.join(OUT, "expected_gqa_predictions.json"), "wb") as f:
        f.write(predictions_bytes)
    s = g["scores"]
    detail = {k: {str(t): {"accuracy": v[0], "questions": v[1]} for t, v in s[k].items()}
              for k in ("accuracyPerStructuralType", "accuracyPerSemanticType", "accuracyPerSteps", "accuracyPerLength")}
    write_json(os.path.join(d, "expected.json"), dict(
        {k: s[k] for k in ("binary", "open", "accuracy", "validity", "plausibility", "distribution")}, **detail,
        stdout=out))


def gen_submissions(off):
    d = os.path.join(OUT, "submit")
    os.makedirs(d, exist_ok=True)
    # VQAv2
    write_jsonl(os.path.join(d, "llava_vqav2_mscoco_test2015.jsonl"),
                [{"question_id": q, "image": "COCO_test2015_%012d.jpg" % q, "text": "q", "category": "default"}
                 for q, _ in VQAV2_TEST])
    with open(os.path.join(d, "vqav2_answers.jsonl"), "w") as f:
        for q, t in VQAV2_TEST:
            if t is not None:
                f.write(json.dumps(answer(q, t)) + "\n")
        f.write("{not json\n")
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "answers", "test", "ck"))
        shutil.copy(os.path.join(d, "vqav2_answers.jsonl"), os.path.join(tmp, "answers", "test", "ck", "merge.jsonl"))
        shutil.copy(os.path.join(d, "llava_vqav2_mscoco_test2015.jsonl"), tmp)
        run_script(os.path.join(off, "imp", "scripts", "convert_vqav2_for_submission.py"),
                   ["--dir", tmp, "--ckpt", "ck", "--split", "test"])
        shutil.copy(os.path.join(tmp, "answers_upload", "test", "ck.json"), os.path.join(OUT, "expected_vqav2.json"))
    # VizWiz
    write_jsonl(os.path.join(d, "llava_vizwiz_test.jsonl"),
                [{"question_id": i, "image": img, "text": "q"} for i, (img, _) in enumerate(VIZWIZ_TEST)])
    write_jsonl(os.path.join(d, "vizwiz_answers.jsonl"), [answer(i, t) for i, (_, t) in enumerate(VIZWIZ_TEST)])
    run_script(os.path.join(off, "imp", "scripts", "convert_vizwiz_for_submission.py"),
               ["--annotation-file", os.path.join(d, "llava_vizwiz_test.jsonl"), "--result-file",
                os.path.join(d, "vizwiz_answers.jsonl"), "--result-upload-file", os.path.join(OUT, "expected_vizwiz.json")])
    # MM-Vet
    write_jsonl(os.path.join(d, "mmvet_answers.jsonl"), [answer(q, t) for q, t in MMVET_ANSWERS])
    run_script(os.path.join(off, "imp", "scripts", "convert_mmvet_for_eval.py"),
               ["--src", os.path.join(d, "mmvet_answers.jsonl"), "--dst", os.path.join(OUT, "expected_mmvet.json")])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", required=True, help="directory with the staged official code (see above)")
    args = ap.parse_args()
    off = os.path.abspath(args.official)
    sys.path.insert(0, os.path.join(off, "imp"))  # eval_textvqa.py imports imp_llava.eval.m4c_evaluator
    import imp_llava.eval.m4c_evaluator as m4c
    gen_evalai(m4c)
    gen_textvqa(off, m4c)
    gen_pope(off)
    gen_sqa(off)
    gen_mme(off)
    gen_gqa(off)
    gen_submissions(off)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
