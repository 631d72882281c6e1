"""Configuration of `LayerSlicedXLNetCRF` (spec: layer-sliced-crf.md §6.2, §8, §9).

Shipped with checkpoints as Hub remote code: only transformers + sibling imports.

Tasks and corpora. A *task* owns one emission layer + CRF (and, when `num_shared_layers < n`, its
own copy of the upper encoder layers). Each corpus of the family contract's `corpus_types`
belongs to exactly one task:

* `task_grouping="corpus"` (default): one task per corpus, whose tags cover that corpus's types
  only, so a sentence is never penalised for types its corpus does not annotate (MTL-LS / STL).
* `task_grouping="shared"`: one task for all corpora (MTL-XC: everything shared, labels unified
  by bare type name). Allowed only when every corpus annotates the same bare types (e.g.
  `NCBI-disease/Disease` and `BC5CDR/Disease` after keeping only the disease category), because
  one CRF cannot know which types an example's corpus leaves unannotated.
* a dict `{task: [corpus, ...]}`: explicit groups, each with identical bare type sets.

`task_corpora[task][corpus]` lists that corpus's prefixed labels aligned with
`task_types[task]`; predictions of a task head come out once per corpus it serves, with that
corpus's prefixed label.
"""

from __future__ import annotations

import re

from transformers import AutoConfig, PretrainedConfig

from .canonical import base_type
from .token_logits import OwnPipelineConfigMixin

TASK_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
SUBWORD_MODES = ("first", "x_label")
PHASE2_MODES = ("joint", "frozen", "independent")
CRF_REDUCTIONS = ("mean", "sum", "token_mean")
#: Layer-stack attribute paths by encoder model_type (spec §5); others default to "encoder.layer".
LAYER_PATHS = {"xlnet": "layer"}


def task_key(name: str, taken: set[str] | None = None) -> str:
    """A ModuleDict-safe key for a task display name: `[A-Za-z0-9_-]+`, no dots, unique in `taken`."""
    key = re.sub(r"[^A-Za-z0-9_-]", "_", str(name)) or "task"
    taken = taken or set()
    out, i = key, 1
    while out in taken:
        i += 1
        out = f"{key}_{i}"
    return out


def plan_tasks(corpus_types: dict[str, list[str]], grouping: str | dict[str, list[str]] = "corpus",
               shared_name: str | None = None) -> tuple[list[str], dict[str, list[str]], dict[str, dict[str, list[str]]]]:
    """Map the family contract's `corpus_types` onto tasks.

    Returns `(tasks, task_types, task_corpora)` (see the module docstring).
    """
    if not isinstance(corpus_types, dict) or not corpus_types:
        raise ValueError("corpus_types must be a non-empty dict {corpus: [prefixed types]}")
    for corpus, labels in corpus_types.items():
        if not isinstance(labels, (list, tuple)) or not labels:
            raise ValueError(f"corpus_types[{corpus!r}] must be a non-empty list of types, got {labels!r}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"corpus_types[{corpus!r}] lists a type twice: {labels}")
    if grouping == "corpus":
        groups = {c: [c] for c in corpus_types}
    elif grouping == "shared":
        groups = {shared_name or "shared": list(corpus_types)}
    elif isinstance(grouping, dict):
        groups = {str(t): list(cs) for t, cs in grouping.items()}
    else:
        raise ValueError(f"task_grouping must be 'corpus', 'shared' or a dict {{task: [corpora]}}, got {grouping!r}")
    listed = [c for cs in groups.values() for c in cs]
    if sorted(listed) != sorted(corpus_types) or len(set(listed)) != len(listed):
        raise ValueError(f"task_grouping must place every corpus of corpus_types in exactly one task; "
                         f"got {groups} for corpora {list(corpus_types)}")
    tasks, task_types, task_corpora = [], {}, {}
    for task, corpora in groups.items():
        if not corpora:
            raise ValueError(f"task {task!r} has no corpus")
        types = [base_type(lab, corpora[0]) for lab in corpus_types[corpora[0]]]
        mapping = {}
        for corpus in corpora:
            bare = {base_type(lab, corpus): lab for lab in corpus_types[corpus]}
            if set(bare) != set(types):
                raise ValueError(
                    f"task {task!r} shares one CRF between corpora with different types "
                    f"({corpora[0]}: {sorted(types)}, {corpus}: {sorted(bare)}); a shared head would penalise "
                    "a corpus for types it does not annotate. Use task_grouping='corpus' (one head per corpus) "
                    "or keep only the category's common types in corpus_types.")
            mapping[corpus] = [bare[t] for t in types]
        tasks.append(task)
        task_types[task] = types
        task_corpora[task] = mapping
    return tasks, task_types, task_corpora


def _tag_inventory(types: list[str], scheme: str, x_label: bool) -> list[str]:
    prefixes = "BIES" if scheme == "IOBES" else "BI"
    tags = ["O"] + [f"{p}-{t}" for t in types for p in prefixes]
    return tags + ["X"] if x_label else tags


class LayerSlicedCRFConfig(OwnPipelineConfigMixin, PretrainedConfig):
    r"""Encoder + emission layer + linear-chain CRF with hierarchical (layer-sliced) sharing.

    Args:
        encoder_config: the encoder's config (dict with `model_type`, or a `PretrainedConfig`).
        layer_path: dotted attribute path of the encoder's layer stack (default by model_type, §5).
        num_shared_layers: k, the number of bottom layers shared by all tasks (default n: all shared).
            Layers k..n-1 are copied per task. `slicing_rate = k / n`.
        tasks / task_types / task_corpora: see the module docstring; `task_keys` maps each task
            to its ModuleDict key; `corpora` keeps the corpus order. `task_labels` (derived) lists each task's CRF tags.
        tag_scheme: "IOBES" (reproduction default) or "BIO".
        subword_mode: "first" (CRF over each word's first sub-word; default) or "x_label" (CRF over
            every sub-word, non-first ones tagged X).
        crf_reduction: "mean" over sequences (reference), "sum" or "token_mean".
        constrain_transitions: add -1e4 to the tag moves the scheme forbids (O -> I-x, B-x -> O, ...;
            on by default: chosen on NCBI-disease dev, +1.1 F1, BENCHMARKS.md); the paper's CRF is
            unconstrained (`recipe: paper` turns it off).
        default_task: task used when a caller asks for one head without naming it.
        emission_dropout: dropout before the emission layer (None: 0 for XLNet, whose output is
            already dropped out, else the encoder's hidden dropout).
        initializer_range: std of the emission layer init (None: the encoder's).
        max_seq_length: most sub-words per sequence (longer sentences are windowed / split).
        window_overlap: words shared by consecutive inference windows of a long sentence.
        pack_sentences: training only: pack consecutive sentences of a task into one sequence
            (reference preprocessing; off by default, one sentence per sequence).
        category, phase2_mode ("joint" | "frozen" | "independent"), init_encoder,
            init_xc_checkpoint: provenance; `phase2_mode="frozen"` also freezes the shared block.

    The optimisation settings (§8: learning rate, layer-wise decay, schedule, epochs, the MTL-XC ->
    MTL-LS phases) are not model configuration: they are the family's training recipes
    (`LayerSlicedXLNetCRF.training_recipes`), read by `biomtl train`.
    """

    model_type = "layer_sliced_crf"
    sub_configs = {"encoder_config": AutoConfig}

    def __init__(
        self,
        encoder_config=None,
        layer_path: str | None = None,
        num_shared_layers: int | None = None,
        tasks: list[str] | None = None,
        task_keys: dict[str, str] | None = None,
        task_types: dict[str, list[str]] | None = None,
        task_corpora: dict[str, dict[str, list[str]]] | None = None,
        corpora: list[str] | None = None,
        tag_scheme: str = "IOBES",
        subword_mode: str = "first",
        crf_reduction: str = "mean",
        constrain_transitions: bool = True,
        default_task: str | None = None,
        emission_dropout: float | None = None,
        initializer_range: float | None = None,
        max_seq_length: int = 512,
        window_overlap: int = 8,
        pack_sentences: bool = False,
        category: str | None = None,
        phase2_mode: str = "joint",
        init_encoder: str | None = None,
        init_xc_checkpoint: str | None = None,
        **kwargs,
    ):
        if encoder_config is None:
            encoder_config = {"model_type": "bert"}
        if isinstance(encoder_config, dict):
            enc = dict(encoder_config)
            if "model_type" not in enc:
                raise ValueError("encoder_config needs a 'model_type' entry")
            encoder_config = AutoConfig.for_model(enc.pop("model_type"), **enc)
        if not isinstance(encoder_config, PretrainedConfig):
            raise ValueError(f"encoder_config must be a dict or a PretrainedConfig, got {type(encoder_config)}")
        self.encoder_config = encoder_config
        n = self.num_layers
        self.layer_path = layer_path
        self.num_shared_layers = n if num_shared_layers is None else int(num_shared_layers)
        if not 0 <= self.num_shared_layers <= n:
            raise ValueError(f"num_shared_layers must be in [0, {n}] (encoder layers), got {num_shared_layers}")

        self.tasks = list(tasks or [])
        self.task_types = {t: list(v) for t, v in (task_types or {}).items()}
        self.task_corpora = {t: {c: list(labs) for c, labs in v.items()} for t, v in (task_corpora or {}).items()}
        # corpus order (JSON files sort dict keys, so it is stored as a list)
        listed = [c for t in self.tasks for c in self.task_corpora.get(t, {})]
        self.corpora = list(corpora) if corpora is not None else listed
        if sorted(self.corpora) != sorted(listed):
            raise ValueError(f"corpora {self.corpora} must list exactly the corpora of task_corpora {listed}")
        taken: set[str] = set()
        keys = dict(task_keys or {})
        for t in self.tasks:
            if t not in keys:
                keys[t] = task_key(t, taken)
            taken.add(keys[t])
        self.task_keys = {t: keys[t] for t in self.tasks}

        self.tag_scheme = str(tag_scheme).upper()
        self.subword_mode = subword_mode
        self.crf_reduction = crf_reduction
        self.constrain_transitions = bool(constrain_transitions)
        self.default_task = default_task if default_task is not None else (self.tasks[0] if self.tasks else None)
        if emission_dropout is None:
            emission_dropout = 0.0 if encoder_config.model_type == "xlnet" else float(
                getattr(encoder_config, "hidden_dropout_prob", 0.1) or 0.0)
        self.emission_dropout = float(emission_dropout)
        if initializer_range is None:
            initializer_range = float(getattr(encoder_config, "initializer_range", 0.02) or 0.02)
        self.initializer_range = float(initializer_range)
        self.max_seq_length = int(max_seq_length)
        self.window_overlap = int(window_overlap)
        self.pack_sentences = bool(pack_sentences)
        self.category = category
        self.phase2_mode = phase2_mode
        self.init_encoder = init_encoder
        self.init_xc_checkpoint = init_xc_checkpoint
        # derived fields are recomputed, never trusted from a saved file
        for derived in ("task_labels", "corpus_types", "entity_types", "slicing_rate"):
            kwargs.pop(derived, None)
        # the per-token label space of forward() without word_index (AutoModelForTokenClassification)
        labels = [label for label, _ in self.token_label_columns()]
        kwargs["id2label"] = dict(enumerate(labels))
        kwargs["label2id"] = {label: i for i, label in enumerate(labels)}
        super().__init__(**kwargs)
        self._validate()

    # -- derived views ---------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        """n, the encoder's number of layers."""
        return int(self.encoder_config.num_hidden_layers)

    @property
    def slicing_rate(self) -> float:
        """r = k / n."""
        return self.num_shared_layers / self.num_layers if self.num_layers else 1.0

    @property
    def task_labels(self) -> dict[str, list[str]]:
        """task -> CRF tag strings (`O`, B/I(/E/S) per type, then `X` in x_label mode)."""
        return {t: _tag_inventory(self.task_types[t], self.tag_scheme, self.subword_mode == "x_label")
                for t in self.tasks}

    @property
    def corpus_types(self) -> dict[str, list[str]]:
        """Family contract view: corpus -> prefixed types it annotates, in corpus order."""
        where = self.corpus_task
        return {c: list(self.task_corpora[where[c]][c]) for c in self.corpora}

    @property
    def entity_types(self) -> list[str]:
        """Every prefixed type, corpus by corpus."""
        return [lab for labs in self.corpus_types.values() for lab in labs]

    @property
    def corpus_task(self) -> dict[str, str]:
        """corpus -> the task whose head predicts it."""
        return {c: t for t in self.tasks for c in self.task_corpora[t]}

    def token_label_columns(self) -> list[tuple[str, tuple[int, str]]]:
        """Per-token labels `O`, then `B-`/`I-` of each corpus's prefixed types (corpus order), each with
        its (index in `tasks`, BIO label of that task's head); `O` is (-1, "O")."""
        out: list[tuple[str, tuple[int, str]]] = [("O", (-1, "O"))]
        where = {c: t for t in self.tasks for c in self.task_corpora.get(t, {})}
        for corpus in self.corpora:
            task = where.get(corpus)
            if task is None:
                continue
            for bare, label in zip(self.task_types.get(task, []), self.task_corpora[task][corpus]):
                for prefix in ("B-", "I-"):
                    out.append((prefix + label, (self.tasks.index(task), prefix + bare)))
        return out

    def to_dict(self):
        out = super().to_dict()
        # informational copies for readers of config.json (ignored when loading)
        out["slicing_rate"] = self.slicing_rate
        out["corpus_types"] = self.corpus_types
        out["task_labels"] = self.task_labels
        return out

    def _validate(self) -> None:
        def choice(name, value, allowed):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")

        choice("tag_scheme", self.tag_scheme, ("IOBES", "BIO"))
        choice("subword_mode", self.subword_mode, SUBWORD_MODES)
        choice("crf_reduction", self.crf_reduction, CRF_REDUCTIONS)
        choice("phase2_mode", self.phase2_mode, PHASE2_MODES)
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks must be unique, got {self.tasks}")
        keys = list(self.task_keys.values())
        if len(set(keys)) != len(keys):
            raise ValueError(f"task_keys must be unique, got {self.task_keys}")
        for task, key in self.task_keys.items():
            if not TASK_KEY_RE.match(key):
                raise ValueError(f"task_keys[{task!r}] = {key!r} must be non-empty [A-Za-z0-9_-] (no dots)")
        seen: dict[str, str] = {}
        for task in self.tasks:
            if task not in self.task_types or not self.task_types[task]:
                raise ValueError(f"task_types has no types for task {task!r}")
            if task not in self.task_corpora or not self.task_corpora[task]:
                raise ValueError(f"task_corpora has no corpus for task {task!r}")
            for corpus, labels in self.task_corpora[task].items():
                if corpus in seen:
                    raise ValueError(f"corpus {corpus!r} belongs to tasks {seen[corpus]!r} and {task!r}")
                seen[corpus] = task
                if len(labels) != len(self.task_types[task]):
                    raise ValueError(f"task_corpora[{task!r}][{corpus!r}] must give one label per task type "
                                     f"{self.task_types[task]}, got {labels}")
        extra = set(self.task_types) - set(self.tasks)
        if extra:
            raise ValueError(f"task_types names tasks not in tasks: {sorted(extra)}")
        if self.tasks and self.default_task not in self.tasks:
            raise ValueError(f"default_task {self.default_task!r} is not one of tasks {self.tasks}")
        if self.max_seq_length < 8:
            raise ValueError(f"max_seq_length must be >= 8, got {self.max_seq_length}")
        if self.window_overlap < 0:
            raise ValueError(f"window_overlap must be >= 0, got {self.window_overlap}")


LayerSlicedCRFConfig.register_for_auto_class()
