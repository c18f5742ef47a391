"""The activity manager: tasks, launch modes, intent delivery, `am start` options and its `-W` report.

Rules modelled (developer.android.com/guide/components/activities/tasks-and-back-stack, "Tasks and the back
stack"; developer.android.com/guide/topics/manifest/activity-element, `android:launchMode` and `android:noHistory`;
developer.android.com/reference/android/app/Activity#onNewIntent(android.content.Intent); developer.android.com/
tools/adb, "Call activity manager (am)": `-W`, `-S`, `--activity-single-top`, `--activity-clear-top`):
* `am start` always adds FLAG_ACTIVITY_NEW_TASK. With no task for the app, a task is made and the activity
  created with the intent (`onCreate`), after starting the process if it was not running (LaunchState COLD, else
  WARM).
* With the app's task present, the task is brought to the front, and then: a `singleTask`/`singleInstance`
  activity already in it gets the intent in `onNewIntent` (activities above it are finished); a `singleTop`
  activity, or any with FLAG_ACTIVITY_SINGLE_TOP, gets it in `onNewIntent` when it is on top; FLAG_ACTIVITY_CLEAR_TOP
  finishes the activities above an existing instance, and a `standard` one without SINGLE_TOP is itself finished
  and created again with the intent; a `standard` activity that is the task's root, with no such flag, gets
  nothing when its first intent had the same intent filter (extras do not count; `am start -n` has no action):
  the task comes to the front and **the new intent is dropped** ("Warning: Activity not started, its current task
  has been brought to the front"); after a launch from the launcher (action MAIN) a new instance is stacked on
  top instead (ActivityStarter's `isSameIntentFilter` check).
* `onNewIntent` reaches the app only if the activity overrides it; `getIntent()` keeps returning the first intent
  unless the app calls `setIntent`.
* `am force-stop PKG` ("Force stop everything associated with package") kills the app's process and removes its
  tasks, so a benchmark it was running ends without a result; `-S` force-stops the app first the same way; `-W`
  waits until the launch completes and prints
  `Status`, `LaunchState`, `Activity`, `TotalTime`, `WaitTime`, `Complete`.
* An activity leaving the foreground (home pressed, another app in front) is paused and stopped; a `noHistory`
  activity is then finished.

Which launch mode, `noHistory` and callbacks the simulated app has is read from android_app's manifest and
sources, so the simulator answers for the app as it is written, not as the tests assume it.
"""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
APP_SOURCES = Path(__file__).resolve().parents[2] / "android_app" / "app" / "src" / "main"
SINGLE_TOP, CLEAR_TOP = "--activity-single-top", "--activity-clear-top"
AM_FLAGS = (SINGLE_TOP, CLEAR_TOP)


@dataclass(frozen=True)
class ActivityDeclaration:
    """One activity as the app declares it: manifest attributes and the callbacks its class overrides."""

    name: str  # short class name, e.g. "MainActivity"
    launch_mode: str = "standard"
    no_history: bool = False
    overrides: frozenset[str] = frozenset()


def declarations(root: Path = APP_SOURCES) -> dict[str, ActivityDeclaration]:
    """The app's activities from AndroidManifest.xml and the `override fun on…` of each activity's Kotlin class."""
    manifest = ElementTree.parse(root / "AndroidManifest.xml").getroot()
    found = {}
    for element in manifest.iter("activity"):
        name = element.get(f"{ANDROID_NS}name").rsplit(".", 1)[-1]
        sources = list(root.rglob(f"{name}.kt"))
        text = sources[0].read_text() if sources else ""
        found[name] = ActivityDeclaration(
            name, element.get(f"{ANDROID_NS}launchMode", "standard"),
            element.get(f"{ANDROID_NS}noHistory") == "true",
            frozenset(re.findall(r"override fun (on\w+)\(", text)))
    return found


@dataclass
class Record:
    """A live activity instance: the intent `getIntent()` returns and the intents the app received."""

    name: str
    intent: dict
    received: list[dict] = field(default_factory=list)


@dataclass
class Launch:
    """What one `am start` did."""

    outcome: str  # "created", "new_intent", "dropped"
    state: str  # LaunchState: COLD, WARM, HOT, UNKNOWN (0)
    record: Record | None
    total_ms: int = 0


class ActivityManager:
    """The tasks of one app package on the simulated phone; `app` receives the lifecycle callbacks."""

    def __init__(self, package: str, app, launch_delay: float = 0.0):
        self.package, self.app, self.launch_delay = package, app, launch_delay
        self.declared = declarations()
        self.task: list[Record] = []  # the app's one task, root first
        self.process_running = False
        self.in_front = False
        self.lock = threading.RLock()

    # --- am ------------------------------------------------------------------------------------------------------

    def force_stop(self) -> None:
        with self.lock:
            for record in reversed(self.task):
                self.app.destroyed(record)
            self.task.clear()
            self.process_running = self.in_front = False
            self.app.process_killed()

    def start(self, activity: str, extras: dict, flags: set[str], stop_first: bool, action: str | None = None) -> Launch:
        """`am start -n` (no action), or the launcher's MAIN intent when `action` is given."""
        if stop_first:
            self.force_stop()
        with self.lock:
            started = time.monotonic()
            declared = self.declared[activity]
            intent = {"component": activity, "extras": dict(extras), "flags": sorted(flags), "action": action}
            state = "WARM" if self.process_running else "COLD"
            if not self.task:
                return self._create(declared, intent, state, started)
            self._to_front()
            existing = next((r for r in self.task if r.name == activity), None)
            top = self.task[-1]
            if existing is not None and (declared.launch_mode in ("singleTask", "singleInstance")
                                         or CLEAR_TOP in flags):
                self._finish_above(existing)
                if declared.launch_mode == "standard" and SINGLE_TOP not in flags:
                    self._finish(existing)
                    return self._create(declared, intent, "HOT", started)
                return self._deliver(existing, declared, intent, started)
            if top.name == activity and (declared.launch_mode == "singleTop" or SINGLE_TOP in flags):
                return self._deliver(top, declared, intent, started)
            root = self.task[0]
            if root.name == activity and root.intent.get("action") == intent.get("action"):
                return Launch("dropped", "HOT", top, self._elapsed(started))  # same intent filter: to front only
            return self._create(declared, intent, "HOT", started)

    def leave_foreground(self) -> None:
        """Home pressed or another app in front: the top activity is paused and stopped (noHistory: finished)."""
        with self.lock:
            if not self.in_front or not self.task:
                return
            self.in_front = False
            top = self.task[-1]
            self.app.paused(top)
            if self.declared[top.name].no_history:
                self._finish(top)

    def finished(self, record: Record) -> None:
        """The app called finish() on this activity."""
        with self.lock:
            if record in self.task:
                self._finish(record)

    def top(self) -> Record | None:
        return self.task[-1] if self.task else None

    # --- the rules -----------------------------------------------------------------------------------------------

    def _create(self, declared: ActivityDeclaration, intent: dict, state: str, started: float) -> Launch:
        time.sleep(self.launch_delay)
        if not self.process_running:
            self.process_running = True
            self.app.process_started()
        record = Record(declared.name, intent, [intent])
        if self.task:
            self.app.paused(self.task[-1])
        self.task.append(record)
        self.in_front = True
        self.app.created(record)
        return Launch("created", state, record, self._elapsed(started))

    def _deliver(self, record: Record, declared: ActivityDeclaration, intent: dict, started: float) -> Launch:
        if "onNewIntent" in declared.overrides:
            record.received.append(intent)
            self.app.new_intent(record, intent)
        return Launch("new_intent", "UNKNOWN (0)", record, self._elapsed(started))

    def _finish_above(self, record: Record) -> None:
        while self.task and self.task[-1] is not record:
            self._finish(self.task[-1])

    def _finish(self, record: Record) -> None:
        self.task.remove(record)
        self.app.destroyed(record)
        if not self.task:
            self.in_front = False

    def _to_front(self) -> None:
        self.in_front = True

    @staticmethod
    def _elapsed(started: float) -> int:
        return max(1, int((time.monotonic() - started) * 1000))


def am_start_report(component: str, has_extras: bool, launch: Launch, wait: bool) -> str:
    """What `am start` prints (ActivityManagerShellCommand): the intent, a warning when no activity started,
    and with `-W` the wait result."""
    lines = [f"Starting: Intent {{ cmp={component}{' (has extras)' if has_extras else ''} }}"]
    if launch.outcome == "new_intent":
        lines.append("Warning: Activity not started, intent has been delivered to currently running top-most "
                     "instance.")
    elif launch.outcome == "dropped":
        lines.append("Warning: Activity not started, its current task has been brought to the front")
    if wait:
        lines += ["Status: ok", f"LaunchState: {launch.state}", f"Activity: {component}"]
        if launch.outcome == "created":
            lines.append(f"TotalTime: {launch.total_ms}")
        lines += [f"WaitTime: {launch.total_ms + 2}", "Complete"]
    return "".join(f"{line}\n" for line in lines)
