"""A DialogModel's pipeline, defined once for the operator and for local mode (pure, no I/O).

    stages.py       which stages run for a spec, the phase of each, the files that mark one done
    commands.py     each stage's command line (the same CLI verbs in a pod and under `rejoinder up`)
    transitions.py  the phase and the conditions/reasons each stage sets when it starts and ends
    conditions.py   the one condition setter (lastTransitionTime moves only when a status flips)
"""
