"""Learns your taste: a personal ranking trained on the photographer's own past decisions.

* :mod:`engine.taste.features`: what is measured per shot (member qualities and raw values,
  the largest face's signals, signed deviations from the group), read from a catalog;
* :mod:`engine.taste.learn`: within-group preference pairs and a pairwise logistic
  regression (scikit-learn) regularised towards the default fusion, with
  leave-one-shoot-out agreement;
* :mod:`engine.taste.profile`: the learned profile as JSON coefficients (ranking needs
  only numpy), stored versioned in the user's data dir, on/off, explained in words;
* :mod:`engine.taste.xmpread`: decisions made elsewhere (``xmp:Rating``/``xmp:Label`` in
  sidecars or embedded), read with the export path's hardened XMP parser;
* :mod:`engine.taste.simulate`: scripted photographers for tests and the benchmark.

What the GUI needs: :func:`engine.taste.profile.status_line` ("ranked by your taste
(learned from N decisions)"), :func:`engine.taste.profile.set_enabled`,
:func:`engine.taste.learn.learn_from_catalogs` (learn after a session),
:meth:`engine.taste.profile.Profile.weights` (the learned weights for the explain chart) and
:meth:`engine.taste.profile.Profile.contributions` (one shot's learned adjustments).
"""
