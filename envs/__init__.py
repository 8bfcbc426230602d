"""shoal"""
