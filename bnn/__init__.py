"""BNN Playground core: Binarized Neural Networks (Courbariaux et al. 2016, arXiv:1602.02830).

Plain PyTorch; knows nothing of Streamlit.
"""
