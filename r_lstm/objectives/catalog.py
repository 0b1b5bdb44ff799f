"""Every auxiliary objective, by the name `configs.MODELS` gives it."""

from r_lstm.objectives import prediction, reconstruction

BY_NAME = {decoder.objective: decoder for decoder in (
    reconstruction.ReconstructionDecoder, prediction.PredictionDecoder)}
