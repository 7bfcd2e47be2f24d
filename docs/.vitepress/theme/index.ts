// The site's theme: VitePress's default theme plus the live demos' components.
import DefaultTheme from 'vitepress/theme';
import type { Theme } from 'vitepress';
import DemoRunner from './DemoRunner.vue';
import ExplorerDemo from './ExplorerDemo.vue';
import GenerateDemo from './GenerateDemo.vue';
import TrainDemo from './TrainDemo.vue';
import './demo-controls.css';

export default {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component('DemoRunner', DemoRunner);
    app.component('ExplorerDemo', ExplorerDemo);
    app.component('GenerateDemo', GenerateDemo);
    app.component('TrainDemo', TrainDemo);
  },
} satisfies Theme;
