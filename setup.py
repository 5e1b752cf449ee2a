"""Build hook: the wheel ships the built-in recipes of ``datasets/`` as package data.

``datasets/`` stays at the top of the source tree, where users read and edit recipes, and is not
a Python package (a top-level ``datasets`` would shadow Hugging Face's). At build time its
``*.toml`` files are copied to ``eventsim/datasets/recipes/`` inside the wheel, where
`eventsim.datasets.recipe.builtin_recipe_dir` finds them outside a checkout.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RECIPES = Path(__file__).resolve().parent / "datasets"


class BuildPyWithRecipes(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "eventsim" / "datasets" / "recipes"
        target.mkdir(parents=True, exist_ok=True)
        recipes = sorted(RECIPES.glob("*.toml"))
        if not recipes:
            raise SystemExit(f"no recipes in {RECIPES}: the source tree is incomplete")
        for recipe in recipes:
            shutil.copy2(recipe, target / recipe.name)


setup(cmdclass={"build_py": BuildPyWithRecipes})
