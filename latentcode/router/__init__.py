"""The router: per question, the code expert or the neural path, cost-aware.

    labels.py    both paths' outcomes on the same questions (``latentcode bench --mode both``), read and checked
    costs.py     one scalar cost per answer, from its tokens and sandbox seconds
    features.py  what the router reads: the neural path's hidden states over the question
    gates.py     the two router forms (a probe on pooled states; a code slot in the MoE routers), fitting
    curves.py    accuracy-cost curves, APGR and CPT (RouteLLM), the baselines
    train.py     ``latentcode train router``: fit on labelled questions, evaluate on held-out ones
    routed.py    a trained router, loaded to answer questions (``latentcode bench --mode routed``)
"""
