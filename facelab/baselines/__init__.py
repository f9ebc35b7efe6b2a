"""The course's standard runs, which several chapters and experiments build on.

* :mod:`facelab.baselines.face_gan`: chapter 03's DCGAN on faces (:func:`~facelab.baselines.face_gan.train_face_gan`);
* :mod:`facelab.baselines.recognizer`: chapter 04's data split, recognisers and their evaluation.

They sit above :mod:`facelab.train` and :mod:`facelab.runs` and below :mod:`facelab.experiments`, so an
experiment reuses a chapter's run without importing another experiment.
"""
