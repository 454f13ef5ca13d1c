"""The reasoner node and its managed variant: parts composed and driven through lifecycle phases; parameters;
shutdown."""
