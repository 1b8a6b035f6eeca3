"""docs/dalle.md keeps up with the code: the generator's options table and the commands."""

import re
from pathlib import Path

DOC = (Path(__file__).parent.parent / "docs" / "dalle.md").read_text()


def test_the_options_table_matches_the_declarations():
    from artengine.cli_inspect import options_table
    from artengine.plugins.dalle import DalleGenerator

    table = re.search(r"<!-- dalle-options -->\n(.*?)\n<!-- /dalle-options -->", DOC, re.S).group(1)
    assert table == options_table([o.describe() for o in DalleGenerator.options]), (
        "docs/dalle.md is out of date: paste the table `python -c 'from artengine.cli_inspect import options_table; "
        "from artengine.plugins.dalle import DalleGenerator; print(options_table([o.describe() for o in DalleGenerator.options]))'`"
    )


def test_every_training_flag_is_explained():
    from artengine.cli_train import trainer_command
    from artengine.plugins.dalle.train import DalleTrainer

    for parameter in trainer_command("dalle", DalleTrainer).params:
        flag = parameter.opts[0]
        assert re.search(re.escape(flag) + r"(?![\w-])", DOC), f"docs/dalle.md does not mention {flag}"
