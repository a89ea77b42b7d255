"""One Streamlit script per page; ``app.py`` lists them in ``st.navigation``."""

__all__: list[str] = []
