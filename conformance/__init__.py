"""autograd-conformance: run YAML autograd scenarios on several backends and diff them.

The packages, in the order data flows through them:

- ``spec/``: find, load, validate and compile spec files into scenarios (and the installed
  spec set, selection by ``-k``/``--tag``, torch version ranges);
- ``backends/``: the ``Backend`` protocol and the engines behind it;
- ``isolation/``: where a backend's code runs (a worker process per backend, or in process);
- ``run/``: the interpreter, the runner, diffs, values, results and repro snippets;
- ``timing/``: interleaved measurement and its statistics;
- ``report/``: the run file (built, streamed, read back) and what the terminal shows;
- ``formats/``: the reports rendered from a run file (JUnit, Markdown, HTML, summary, peers);
- ``ci/``: the gate, shards and their merge, known-failure manifests;
- ``fuzz/``: the differential fuzzer and gradcheck;
- ``cli/``: the ``conformance`` command; ``pytest_plugin.py``: the same for pytest.
"""
