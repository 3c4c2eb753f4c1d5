"""GoexExecutor: the ``goex`` executor. Journals intent, runs confined, previews, commits with pre-images, undoes.

States (ActionRecord.status): proposed -> ran -> committed -> undone, or discarded (ran, then undone
before commit) or failed. ``phase`` in the journal says what was in flight (running, committing,
undoing); on start-up :meth:`recover` finishes or rolls back whatever a crash interrupted.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError, NotFoundError, SkyplexError
from skyplex.interfaces.executor import Action, ActionRecord, Executor
from skyplex.interfaces.model import ModelBackend
from skyplex.sandbox import SandboxPolicy
from skyplex.store import Store, utcnow

from .fs_actions import FsHandler
from .fstree import BlobStore
from .faults import NO_FAULTS, FaultPoints
from .handlers import ActionContext, ActionFailed, ActionHandler, ApprovalRequired, ConflictError, ReversibleByModel
from .journal import JournalTampered, UndoJournal
from .sqlite_actions import SqliteHandler

log = logging.getLogger(__name__)


class GoexExecutor(Executor):
    """Run LLM-proposed actions with post-facto validation: review the staged effect, commit, undo later.

    Options: ``data_dir`` (journal blobs, vault; default the kernel's data dir), ``database_url`` (the
    journal's store; default the kernel's store), ``services`` (REST allow-list, see docs/plugins/goex.md),
    ``sandbox`` (SandboxPolicy fields for fs actions), ``stage_dir`` (where staged copies live; must be
    reachable by the sandbox user), ``vault_key`` (else SKYPLEX_GOEX_VAULT_KEY or a key file),
    ``reverse_model`` (name of the kernel model backend undo asks for a reverse call when none can be
    derived; unset means undo only does so when given a ``model``).
    """

    name = "goex"

    def __init__(self, *, kernel: Any = None, data_dir: str | Path | None = None, database_url: str | None = None,
                 services: dict[str, Any] | None = None, sandbox: dict[str, Any] | None = None,
                 stage_dir: str | Path | None = None, vault_key: str | None = None, reverse_model: str | None = None,
                 recover: bool = True, faults: FaultPoints | None = None) -> None:
        self.kernel = kernel
        self.reverse_model = reverse_model
        self._faults = faults or NO_FAULTS
        base = Path(data_dir) if data_dir else (Path(kernel.settings.data_dir) if kernel else None)
        if base is None:
            raise InvalidInputError("goex needs a data_dir (or a kernel) for its journal blobs and vault", field="data_dir")
        self.data_dir = base / "goex"
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if database_url:
            self._store, self._own_store = Store(database_url), True
        elif kernel is not None:
            self._store, self._own_store = kernel.store, False
        else:
            self._store, self._own_store = Store(f"sqlite:///{self.data_dir / 'journal.db'}"), True
        self.journal_db = UndoJournal(self._store, head_path=self.data_dir / "journal.head", faults=self._faults)
        self.blobs = BlobStore(self.data_dir / "blobs", faults=self._faults)
        self._vault_key = vault_key
        self._vault = None
        self._services_config = services or {}
        self._rest = None
        stage = Path(stage_dir) if stage_dir else Path(tempfile.gettempdir()) / "skyplex-goex-stage"
        stage.mkdir(parents=True, exist_ok=True)
        stage.chmod(0o711)  # the sandbox user must traverse it; nobody may list it
        policy = SandboxPolicy(**(sandbox or {}))
        self.handlers: dict[str, ActionHandler] = {
            "fs": FsHandler(self.blobs, stage, policy, protected=[self.data_dir]),
            "sqlite": SqliteHandler(),
        }
        self._register_optional_handlers()
        if recover:
            self.recover()

    def _register_optional_handlers(self) -> None:
        from .postgres_actions import PostgresHandler
        from .rest_actions import RestHandler

        self.handlers["postgres"] = PostgresHandler()
        self._rest = RestHandler(self)
        self.handlers["rest"] = self._rest

    @property
    def vault(self):
        """The credential vault (encrypted at rest), opened on first use."""
        if self._vault is None:
            from .vault import Vault

            self._vault = Vault(self.data_dir / "vault.enc", key=self._vault_key, key_file=self.data_dir / "vault.key")
        return self._vault

    @property
    def services(self) -> dict[str, Any]:
        return self._services_config

    def add_service(self, name: str, config: dict[str, Any]) -> None:
        """Allow REST actions against ``name`` (base_url, allow rules, secrets it may use)."""
        self._services_config[name] = config

    # the Executor interface ---------------------------------------------------------------------------------
    def propose(self, action: Action) -> ActionRecord:
        handler = self._handler(action.kind)
        payload = handler.validate(dict(action.payload))
        cls = handler.classify(payload)
        now = utcnow()
        action_id = uuid.uuid4().hex
        stored = action.model_copy(update={"payload": payload}).model_dump(mode="json")
        self.journal_db.create(
            {"id": action_id, "kind": action.kind, "status": "proposed", "phase": "idle", "classification": cls,
             "approved": False, "action": stored, "preview": None, "undo_data": None, "outcome": None, "error": None,
             "created_at": now, "updated_at": now},
            {"action": stored, "classification": cls})
        return self._emit(action_id)

    def run(self, action_id: str) -> ActionRecord:
        row = self._row(action_id, expect=("proposed",), step="run")
        self.journal_db.transition(action_id, "run-started", phase="running")
        ctx = self._ctx(row)
        try:
            preview = self._handler(row["kind"]).run(ctx)
        except Exception as exc:
            # whatever went wrong (an error of ours or one the action provoked), the action ends failed
            # and its stage is gone: it is never left "running" for a restart to find
            message = exc.message if isinstance(exc, SkyplexError) else f"{type(exc).__name__}: {exc}"
            try:
                self._handler(row["kind"]).discard(ctx)
            finally:
                self.journal_db.transition(action_id, "run-failed", {"error": message}, status="failed",
                                           phase="idle", error=message, preview=getattr(exc, "preview", None))
            self._emit(action_id)
            if isinstance(exc, SkyplexError):
                raise
            raise ActionFailed(f"action {action_id} failed while running: {message}") from exc
        preview["classification"] = row["classification"]
        self.journal_db.transition(action_id, "ran", {"summary": preview.get("summary")}, status="ran",
                                   phase="idle", preview=preview)
        return self._emit(action_id)

    def approve(self, action_id: str, *, by: str = "user") -> ActionRecord:
        """Record approval of an action (needed to commit irreversible ones).

        On a committed action this approves its pending model-proposed reverse (:meth:`approve_reverse`),
        so ``skyplex goex approve ID`` is the one command for both.
        """
        row = self._row(action_id, expect=("proposed", "ran", "committed"), step="approve")
        if row["status"] == "committed":
            return self.approve_reverse(action_id, by=by)
        self.journal_db.transition(action_id, "approved", {"by": by}, approved=True, status=row["status"])
        return self._emit(action_id)

    def commit(self, action_id: str) -> ActionRecord:
        row = self._row(action_id, expect=("ran",), step="commit")
        if row["classification"] == "irreversible" and not row["approved"]:
            raise ApprovalRequired(f"action {action_id} is irreversible; review its preview and approve it "
                                   "(`skyplex goex approve`, or executor.approve(id)) before committing")
        handler = self._handler(row["kind"])
        ctx = self._ctx(row)
        undo_data = handler.prepare_commit(ctx)
        self.journal_db.transition(action_id, "commit-intent", {"undo_data": undo_data}, phase="committing",
                                   undo_data=undo_data)
        try:
            outcome = handler.apply(ctx, undo_data)
        except ConflictError as exc:
            self.journal_db.transition(action_id, "commit-refused", {"error": exc.message}, phase="idle")
            raise
        except Exception as exc:
            handler.rollback(ctx, self.journal_db.get(action_id)["undo_data"] or undo_data)
            message = getattr(exc, "message", str(exc))
            self.journal_db.transition(action_id, "commit-failed", {"error": message}, status="failed", phase="idle",
                                       error=f"commit failed and was rolled back: {message}")
            self._emit(action_id)
            raise ActionFailed(f"commit of action {action_id} failed and was rolled back: {message}") from exc
        self.journal_db.transition(action_id, "committed", {"outcome": outcome}, status="committed", phase="idle",
                                   outcome=outcome,
                                   classification=handler.classify_outcome(ctx.payload, outcome, row["classification"]))
        return self._emit(action_id)

    def undo(self, action_id: str, *, force: bool = False, model: ModelBackend | str | None = None) -> ActionRecord:
        """Reverse a committed action (or discard one that only ran).

        When a committed action has no derivable compensating call, ``model`` (a backend or the name of
        a kernel backend; default the ``reverse_model`` option) is asked to propose one. That proposal is
        journalled and undo raises ApprovalRequired showing it; after :meth:`approve_reverse` (or
        ``approve``), undo sends it.
        """
        row = self._row(action_id, expect=("ran", "committed"), step="undo")
        handler = self._handler(row["kind"])
        ctx = self._ctx(row)
        if row["status"] == "ran":
            handler.discard(ctx)
            self.journal_db.transition(action_id, "discarded", status="discarded", phase="idle")
            return self._emit(action_id)
        if not force:
            later = [r for r in self.journal_db.committed_after(row["created_at"], row["kind"])
                     if handler.resources(r["action"]["payload"]) & handler.resources(row["action"]["payload"])]
            if later:
                raise ConflictError(f"action {action_id} cannot be undone before the later action(s) that touched "
                                    f"the same target: {', '.join(r['id'] for r in later)}; undo those first "
                                    "(multi-step undo goes newest first)")
        if isinstance(handler, ReversibleByModel) and handler.needs_reverse(row["action"]["payload"], row["outcome"] or {}):
            reverse = (row["outcome"] or {}).get("reverse")
            if reverse is None:
                backend = self._model(model)
                if backend is None:
                    raise ConflictError(f"no compensating call could be derived for action {action_id}, so it cannot be "
                                        "undone automatically; undo it with a model (`skyplex goex undo ID --model NAME`, "
                                        "or executor.undo(id, model=...)) to have one propose a reverse call for you "
                                        "to approve")
                self._propose_reverse(row, backend)
                row = self._row(action_id)
                reverse = row["outcome"]["reverse"]
            if not reverse.get("approved"):
                raise ApprovalRequired(_pending_reverse_message(action_id, row["action"]["payload"], reverse))
        self.journal_db.transition(action_id, "undo-intent", {"force": force}, phase="undoing")
        try:
            result = handler.undo(ctx, row["undo_data"], row["outcome"] or {}, force=force)
        except Exception as exc:
            message = getattr(exc, "message", str(exc))
            self.journal_db.transition(action_id, "undo-failed", {"error": message}, phase="idle")
            raise
        outcome = {**(row["outcome"] or {}), "undo": result}
        self.journal_db.transition(action_id, "undone", {"undo": result}, status="undone", phase="idle", outcome=outcome)
        return self._emit(action_id)

    def propose_reverse(self, action_id: str, model: ModelBackend | str | None = None) -> ActionRecord:
        """Ask a model for a reverse of a committed action that has no derivable compensating call.

        The proposal is checked against the allow-list (a refused one is journalled as rejected and
        raises InvalidInputError) and journalled as pending; it replaces any earlier proposal, whose
        approval does not carry over. The action stays irreversible until :meth:`approve_reverse`.
        """
        row = self._row(action_id, expect=("committed",), step="propose a reverse for")
        handler = self._handler(row["kind"])
        if not (isinstance(handler, ReversibleByModel) and handler.needs_reverse(row["action"]["payload"], row["outcome"] or {})):
            raise ConflictError(f"action {action_id} needs no model-proposed reverse: it is read-only or its "
                                "compensating call was derived from the recorded response")
        backend = self._model(model)
        if backend is None:
            raise InvalidInputError("name a model backend to propose the reverse (or set the goex `reverse_model` option)",
                                    field="model")
        self._propose_reverse(row, backend)
        return self._emit(action_id)

    def approve_reverse(self, action_id: str, *, by: str = "user") -> ActionRecord:
        """Approve the pending model-proposed reverse of a committed action; the journal records who did."""
        row = self._row(action_id, expect=("committed",), step="approve the reverse of")
        outcome = dict(row["outcome"] or {})
        reverse = outcome.get("reverse")
        if reverse is None:
            raise ConflictError(f"action {action_id} has no proposed reverse to approve; `skyplex goex undo {action_id} "
                                "--model NAME` asks a model for one")
        if reverse.get("approved"):
            raise ConflictError(f"the reverse of action {action_id} was already approved by {reverse.get('approved_by')!r}")
        outcome["reverse"] = {**reverse, "approved": True, "approved_by": by, "approved_at": utcnow().isoformat()}
        # what is approved is exactly this call: the event carries it, so a later edit would break the chain
        self.journal_db.transition(action_id, "reverse-approved", {"by": by, "call": reverse["call"]},
                                   outcome=outcome, classification="compensatable")
        return self._emit(action_id)

    def journal(self, limit: int = 100) -> list[ActionRecord]:
        return [self._record(r) for r in self.journal_db.recent(limit)]

    # beyond the interface -----------------------------------------------------------------------------------
    def get(self, action_id: str) -> ActionRecord:
        return self._record(self._row(action_id))

    def events(self, action_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The journal's events (all, or of one action), oldest first."""
        return self.journal_db.events(action_id, limit)

    def verify_journal(self) -> list[str]:
        """Problems found in the hash chain; empty when the journal is intact."""
        return [f"event {p.seq}: {p.problem}" for p in self.journal_db.verify()]

    def recover(self) -> list[str]:
        """Finish or roll back actions a crash interrupted; returns what was done, one line each."""
        done = []
        for row in self.journal_db.in_phase("running", "committing", "undoing"):
            try:
                done.append(self._recover_one(row))
            except Exception as exc:  # one damaged action must not keep goex from starting
                message = getattr(exc, "message", str(exc))
                try:
                    self.journal_db.transition(row["id"], "recovery-failed", {"error": message}, error=(
                        f"interrupted while {row['phase']} and not recovered yet: {message}; fix the cause and "
                        "restart goex to retry"))
                except JournalTampered:
                    pass  # a tampered row is left as it is, for a person to look at

                done.append(f"{row['id']}: {row['phase']} -> not recovered ({message})")
            log.warning("goex recovery: %s", done[-1])
        return done

    def _recover_one(self, row: dict[str, Any]) -> str:
        """Finish or roll back one interrupted action; a line saying what was done."""
        row = self.journal_db.get_verified(row["id"]) or row
        handler, ctx = self._handler(row["kind"]), self._ctx(row)
        if row["phase"] == "running":
            handler.discard(ctx)
            self.journal_db.transition(row["id"], "recovered", {"from": "running"}, status="failed", phase="idle",
                                       error="interrupted while running; the staged effect was discarded")
        elif row["phase"] == "committing":
            undo_data = row["undo_data"] or {}
            outcome = handler.recover_commit(ctx, undo_data)
            if outcome is not None:
                self.journal_db.transition(row["id"], "recovered", {"from": "committing", "completed": True},
                                           status="committed", phase="idle", outcome=outcome,
                                           classification=handler.classify_outcome(ctx.payload, outcome,
                                                                                   row["classification"]))
            else:
                handler.rollback(ctx, undo_data)
                self.journal_db.transition(row["id"], "recovered", {"from": "committing", "rolled_back": True},
                                           status="failed", phase="idle",
                                           error="interrupted during commit; rolled back to the state before it")
        else:
            result = handler.undo(ctx, row["undo_data"], row["outcome"] or {}, force=True)
            self.journal_db.transition(row["id"], "recovered", {"from": "undoing", "undo": result},
                                       status="undone", phase="idle", outcome={**(row["outcome"] or {}), "undo": result})
        return f"{row['id']}: {row['phase']} -> {self.journal_db.get(row['id'])['status']}"

    def close(self) -> None:
        if self._rest is not None:
            self._rest.close()
        if self._own_store:
            self._store.dispose()

    # internals ----------------------------------------------------------------------------------------------
    def _model(self, model: ModelBackend | str | None) -> ModelBackend | None:
        """A backend from an instance, a kernel backend name, or the ``reverse_model`` option; None if none."""
        model = model if model is not None else self.reverse_model
        if model is None or isinstance(model, ModelBackend):
            return model
        if self.kernel is None:
            raise InvalidInputError(f"model {model!r} is named but goex runs without a kernel to look it up; "
                                    "pass a ModelBackend instead", field="model")
        return self.kernel.models.get(model)

    def _propose_reverse(self, row: dict[str, Any], backend: ModelBackend) -> None:
        from .flow import propose_reverse

        handler = self._handler(row["kind"])
        assert isinstance(handler, ReversibleByModel)  # callers checked needs_reverse on it
        payload, outcome = row["action"]["payload"], dict(row["outcome"] or {})
        facts = handler.reverse_facts(payload, outcome, row["undo_data"])
        proposed, messages = propose_reverse(backend, payload["service"], self.services[payload["service"]], facts)
        info = backend.info()
        by_model = f"{info.backend}:{info.model}"
        try:
            call = handler.check_reverse(payload, proposed, row["undo_data"])
        except InvalidInputError as exc:
            # journalled so the audit trail shows what the model tried, not only what was accepted
            self.journal_db.transition(row["id"], "reverse-rejected", {"proposed": proposed, "model": by_model,
                                                                       "reason": exc.message})
            raise
        outcome["reverse"] = {"call": call, "proposed_by": by_model, "approved": False, "approved_by": None}
        self.journal_db.transition(row["id"], "reverse-proposed",
                                   {"call": call, "model": by_model, "prompt": messages[-1].content},
                                   outcome=outcome, classification="irreversible")

    def _record_undo_data(self, action_id: str, undo_data: dict[str, Any]) -> None:
        """Handlers that learn their undo data inside their own transaction save it here before committing it."""
        self.journal_db.transition(action_id, "changeset-recorded", {"undo_data": undo_data}, undo_data=undo_data)

    def _handler(self, kind: str) -> ActionHandler:
        try:
            return self.handlers[kind]
        except KeyError:
            raise InvalidInputError(f"goex cannot run {kind!r} actions; kinds: {', '.join(sorted(self.handlers))}",
                                    field="kind") from None

    def _row(self, action_id: str, expect: tuple[str, ...] | None = None, step: str = "") -> dict[str, Any]:
        # a step acts on the row only when it matches its journal (JournalTampered otherwise)
        row = self.journal_db.get_verified(action_id) if expect else self.journal_db.get(action_id)
        if row is None:
            raise NotFoundError(f"no goex action {action_id!r}; `skyplex goex log` lists them", field="action_id")
        if expect and row["status"] not in expect:
            raise ConflictError(f"cannot {step} action {action_id}: it is {row['status']} (needs {' or '.join(expect)})")
        return row

    def _ctx(self, row: dict[str, Any]) -> ActionContext:
        workdir = self.data_dir / "actions" / row["id"]
        return ActionContext(row["id"], row["action"]["payload"], workdir, row["preview"] or {},
                             record_undo_data=lambda data: self._record_undo_data(row["id"], data), faults=self._faults)

    def _record(self, row: dict[str, Any]) -> ActionRecord:
        status = row["status"]
        if row["phase"] != "idle":
            status = "running"
        return ActionRecord(id=row["id"], executor=self.name, action=Action.model_validate(row["action"]), status=status,
                            preview=row["preview"] or {}, outcome={**(row["outcome"] or {}),
                                                                    "classification": row["classification"],
                                                                    "approved": row["approved"]},
                            error=row["error"], created_at=row["created_at"], updated_at=row["updated_at"])

    def _emit(self, action_id: str) -> ActionRecord:
        rec = self._record(self._row(action_id))
        if self.kernel is not None:
            self.kernel.call_each("skyplex_action_executed", {"kernel": self.kernel, "record": rec})
        return rec


def _pending_reverse_message(action_id: str, payload: dict[str, Any], reverse: dict[str, Any]) -> str:
    call = reverse["call"]
    body = "" if call.get("json") is None else f" with body {json.dumps(call['json'], sort_keys=True)[:500]}"
    return (f"action {action_id} has no derivable compensating call; {reverse.get('proposed_by', 'a model')} proposed "
            f"the reverse {call['method']} {payload['service']}{call['path']}{body}. It is sent only once approved: "
            f"review it, then approve it (`skyplex goex approve {action_id}`, or executor.approve_reverse(id)) "
            "and undo again")
