"""mobikit: MobileNet from the papers' tables to an int8 model measured on a phone.

The Python API mirrors the command line, verb for verb; each takes keywords (or a typed request) and returns a
typed result whose `to_json()` is what `--json` prints:

    import mobikit
    model = mobikit.build_model("v2", alpha=1.0, resolution=224)
    cost = mobikit.profile("v1", alpha=0.25, resolution=128)
    result = mobikit.quantize(alpha=0.25, calib="my_images/", eval="labelled/")
    mobikit.bench(result.output_dir, threads=(1, 2))

Importing the package is cheap: TensorFlow is imported only by the functions that need it.
"""

__version__ = "0.1.0"

# public name → (module, attribute); resolved on first use so `import mobikit` stays instant
_API = {
    "build_model": ("models", "build_model"),
    "profile": ("cost", "profile"),
    "quantize": ("quantization", "quantize"),
    "QuantizeRequest": ("quantization", "QuantizeRequest"),
    "QuantizeResult": ("quantization", "QuantizeResult"),
    "evaluate": ("evaluation", "evaluate"),
    "bench": ("benchmark", "bench"),
    "analyze": ("analysis", "analyze"),
    "AnalyzeRequest": ("analysis", "AnalyzeRequest"),
    "sweep": ("sweeping", "sweep"),
    "SweepRequest": ("sweeping", "SweepRequest"),
    "demo": ("live_demo", "demo"),
    "train": ("training", "train"),
    "TrainRequest": ("training", "TrainRequest"),
    "deploy": ("android.deploy", "deploy"),
    "list_devices": ("android.farm", "list_devices"),
    "deploy_farm": ("android.farm_runs", "deploy_farm"),
    "bench_farm": ("android.farm_runs", "bench_farm"),
    "serving": ("serving", "serving"),
    "ServeSession": ("serving", "ServeSession"),
    "load_output_folder": ("description", "load_output_folder"),
    "MobikitError": ("errors", "MobikitError"),
    "UsageError": ("errors", "UsageError"),
    "Reporter": ("progress", "Reporter"),
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'mobikit' has no attribute {name!r}")
    from importlib import import_module

    module, attribute = _API[name]
    value = getattr(import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
