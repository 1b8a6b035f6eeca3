"""The built-in plugins, installed as `artengine.plugins`; each folder is one plugin, declared in
pyproject.toml's `artengine` entry points exactly as a third-party package declares its own."""
